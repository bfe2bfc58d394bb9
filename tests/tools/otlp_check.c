// SPDX-License-Identifier: MIT
/*
 * otlp_check: validates an OTLP profiles request as the test receiver stored it (gzip'd or not)
 * and prints what a test compares, one fact a line:
 *
 *	resource R attr KEY=VALUE
 *	resource R profile P TYPE/UNIT period=PTYPE/PUNIT:PERIOD samples=N total=SUM time=NS
 *		duration=NS
 *	resource R profile P attr KEY=VALUE		(the Profile's own attributes)
 *	resource R profile P sample_keys KEY,KEY...	(the keys its samples' attributes use)
 *
 * With --folded DIR, each profile is also written as DIR/R-P-TYPE.folded, its stacks folded as
 * asyncprof's own .folded files are (the thread's name first), so a test can compare the two.
 * Exits 1, naming the rule, when the request is not valid.
 *
 * Usage: otlp_check FILE [--folded DIR]
 */
#include "output/folded.h"
#include "otlp_validate.h"
#include "target/procmaps.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_value(const PbAnyValue *v)
{
	if (!v)
		return;
	if (v->value_case == PB_STRING_VALUE)
		printf("%s", v->string_value);
	else if (v->value_case == PB_INT_VALUE)
		printf("%" PRId64, v->int_value);
	else if (v->value_case == PB_BOOL_VALUE)
		printf("%s", v->bool_value ? "true" : "false");
}

/* The distinct attribute keys of a profile's samples, in the order first seen. */
static void print_sample_keys(const PbRequest *req, const PbProfile *pr, size_t r, size_t p)
{
	const PbDictionary *d = req->dictionary;
	bool *seen = calloc(d->n_string_table, sizeof(*seen));

	printf("resource %zu profile %zu sample_keys ", r, p);
	for (size_t i = 0; seen && i < pr->n_samples; i++) {
		for (size_t j = 0; j < pr->samples[i]->n_attribute_indices; j++) {
			int32_t key =
			    d->attribute_table[pr->samples[i]->attribute_indices[j]]->key_strindex;

			if (seen[key])
				continue;
			seen[key] = true;
			printf("%s,", d->string_table[key]);
		}
	}
	printf("\n");
	free(seen);
}

static int write_folded(const PbRequest *req, size_t r, size_t p, const char *dir)
{
	struct profile *prof = otlp_request_profile(req, r, p);
	char path[4096];
	FILE *f;
	int err;

	if (!prof)
		return -1;
	snprintf(path, sizeof(path), "%s/%zu-%zu-%s.folded", dir, r, p, prof->sample_types[0].type);
	f = fopen(path, "w");
	err = f ? folded_write(prof, 0, "thread.name", f) : -1;
	if (f && fclose(f))
		err = -1;
	profile_free(prof);
	return err;
}

int main(int argc, char **argv)
{
	const char *folded_dir = argc == 4 && !strcmp(argv[2], "--folded") ? argv[3] : NULL;
	PbRequest *req;
	char why[512], *data;
	size_t len;

	if (argc != 2 && !folded_dir) {
		fprintf(stderr, "usage: otlp_check FILE [--folded DIR]\n");
		return 2;
	}
	if (procfs_read(argv[1], &data, &len)) {
		perror(argv[1]);
		return 1;
	}
	if (otlp_request_unpack(data, len, &req, why, sizeof(why)) ||
	    otlp_validate(req, why, sizeof(why))) {
		fprintf(stderr, "otlp_check: %s: %s\n", argv[1], why);
		return 1;
	}
	free(data);
	printf("resources %zu\n", req->n_resource_profiles);
	for (size_t r = 0; r < req->n_resource_profiles; r++) {
		const PbResourceProfiles *rp = req->resource_profiles[r];

		for (size_t i = 0; rp->resource && i < rp->resource->n_attributes; i++) {
			printf("resource %zu attr %s=", r, rp->resource->attributes[i]->key);
			print_value(rp->resource->attributes[i]->value);
			printf("\n");
		}
		for (size_t p = 0; rp->n_scope_profiles && p < rp->scope_profiles[0]->n_profiles;
		     p++) {
			const PbProfile *pr = rp->scope_profiles[0]->profiles[p];
			char **s = req->dictionary->string_table;
			int64_t total = 0;

			for (size_t i = 0; i < pr->n_samples; i++)
				for (size_t j = 0; j < pr->samples[i]->n_values; j++)
					total += pr->samples[i]->values[j];
			printf("resource %zu profile %zu %s/%s period=%s/%s:%" PRId64
			       " samples=%zu total=%" PRId64 " time=%" PRIu64 " duration=%" PRIu64
			       "\n",
			       r, p, s[pr->sample_type->type_strindex],
			       s[pr->sample_type->unit_strindex],
			       pr->period_type ? s[pr->period_type->type_strindex] : "",
			       pr->period_type ? s[pr->period_type->unit_strindex] : "", pr->period,
			       pr->n_samples, total, pr->time_unix_nano, pr->duration_nano);
			for (size_t i = 0; i < pr->n_attribute_indices; i++) {
				const PbKeyValueAndUnit *a =
				    req->dictionary->attribute_table[pr->attribute_indices[i]];

				printf("resource %zu profile %zu attr %s=", r, p,
				       s[a->key_strindex]);
				print_value(a->value);
				printf("\n");
			}
			print_sample_keys(req, pr, r, p);
			if (folded_dir && write_folded(req, r, p, folded_dir)) {
				fprintf(stderr, "otlp_check: cannot write into %s\n", folded_dir);
				return 1;
			}
		}
	}
	otlp_request_free(req);
	return 0;
}
