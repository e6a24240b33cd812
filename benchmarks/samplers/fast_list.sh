# Sourced by run.sh and run_images.sh: fast_list BUDGETS prints every fast sampler at every budget
# of score evaluations per sample, as `compare --samplers` entries, comma-separated. The step count
# K giving at most B evaluations (sgm_sampler.h's counts with the step to sigma = 0): K for ddim
# and the multistep samplers, 2K - 1 for edm-heun, dpm-solver-2 and edm-churn, 3K - 2 for
# dpm-solver-3.
steps() { # METHOD BUDGET
    case $1 in
    edm-heun | dpm-solver-2 | edm-churn) echo $((($2 + 1) / 2)) ;;
    dpm-solver-3) echo $((($2 + 2) / 3)) ;;
    *) echo "$2" ;;
    esac
}
fast_list() { # BUDGETS (space-separated)
    entries=""
    for method in ddim edm-heun dpm-solver-2 dpm-solver-3 dpmpp-2m dpmpp-3m unipc deis; do
        for nfe in $1; do entries="$entries,ode:$method@$(steps $method "$nfe")"; done
    done
    for method in edm-churn dpmpp-2m-sde dpmpp-3m-sde; do
        for nfe in $1; do entries="$entries,sde:$method@$(steps $method "$nfe")"; done
    done
    echo "${entries#,}"
}
