/*
 * backend_names.h - the backend types, listed once. Each X(name, ops)
 * entry is a job spec's backend.type and the vtable (backend.h) that
 * implements it; the registry in backend.c, the allowed names in jobspec.c
 * and the CLI's help come from this list. Adding a backend is one line here
 * plus its backend_<name>.c.
 *
 * Macros only: includes nothing, so jobspec.c and the CLI can use it
 * without the backend's types.
 */
#ifndef TPSD_BACKEND_NAMES_H
#define TPSD_BACKEND_NAMES_H

/* The first entry is the default type. */
#define BACKEND_TYPES(X)                                                                       \
    X(lms, backend_lms_ops)                                                                    \
    X(none, backend_none_ops)                                                                  \
    X(command, backend_command_ops)

#define BACKEND_TYPE_DEFAULT "lms"

/* Helpers for users of the table: the name as a string, and each name with
 * a leading separator ("|lms|none|command", ", lms, none, command": skip
 * the first one or two characters). */
#define BACKEND_NAME_STR(name, ops) #name,
#define BACKEND_NAME_BAR(name, ops) "|" #name
#define BACKEND_NAME_COMMA(name, ops) ", " #name
#define BACKEND_TYPES_BAR (&BACKEND_TYPES(BACKEND_NAME_BAR)[1])     /* "lms|none|command" */
#define BACKEND_TYPES_COMMA (&BACKEND_TYPES(BACKEND_NAME_COMMA)[2]) /* "lms, none, command" */

#endif
