// SPDX-License-Identifier: MIT
#include "duration.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

double parse_duration(const char *arg, bool units)
{
	static const struct {
		const char *suffix;
		double scale;
	} unit[] = { { "", 1 },	    { "s", 1 },	 { "ms", 1e-3 },
		     { "us", 1e-6 }, { "m", 60 }, { "h", 3600 } };
	size_t digits = strspn(arg, "0123456789.eE+-");
	char *end;
	double v;

	errno = 0;
	v = strtod(arg, &end);
	if (errno || end == arg || end != arg + digits || !isfinite(v) || v < 0)
		return -1;
	for (size_t i = 0; i < (units ? sizeof(unit) / sizeof(unit[0]) : 1); i++) {
		if (strcmp(end, unit[i].suffix) != 0)
			continue;
		v *= unit[i].scale;
		return v <= MAX_DURATION_S ? v : -1;
	}
	return -1;
}
