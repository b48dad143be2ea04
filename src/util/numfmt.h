/* Shortest decimal text that reads back to the same double: declared in the public
 * include/ringtrain/results.h (the CLI uses it); this name stays for the library's files. */
#ifndef RINGTRAIN_NUMFMT_H
#define RINGTRAIN_NUMFMT_H

#include <stddef.h>

#include "ringtrain/results.h"

#endif
