/* commands.h — the subcommands of scoresde; each is int cmd_<name>(int argc, char **argv) with
 * argv[0] the subcommand's name, returning the process exit status. */
#ifndef SCORESDE_COMMANDS_H
#define SCORESDE_COMMANDS_H

typedef int (*command_fn)(int argc, char **argv);

typedef struct command_entry {
    const char *name;
    command_fn run;
    const char *summary;
} command_entry;

/* NULL-terminated table, defined in scoresde.c. */
extern const command_entry scoresde_commands[];

int cmd_solve(int argc, char **argv);
int cmd_sample(int argc, char **argv);
int cmd_likelihood(int argc, char **argv);
int cmd_encode(int argc, char **argv);
int cmd_decode(int argc, char **argv);
int cmd_interpolate(int argc, char **argv);
int cmd_inpaint(int argc, char **argv);
int cmd_compare(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_evaluate(int argc, char **argv);

#endif
