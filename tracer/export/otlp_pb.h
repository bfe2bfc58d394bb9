/* SPDX-License-Identifier: MIT */
#ifndef ASYNCPROF_OTLP_PB_H
#define ASYNCPROF_OTLP_PB_H

/*
 * Short names for the protobuf-c types of the OTLP profiles messages (tracer/proto/opentelemetry/),
 * whose generated names repeat the whole package.
 */
#include "opentelemetry/proto/collector/profiles/v1development/profiles_service.pb-c.h"

typedef Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceRequest
    PbRequest;
typedef Opentelemetry__Proto__Collector__Profiles__V1development__ExportProfilesServiceResponse
    PbResponse;
typedef Opentelemetry__Proto__Profiles__V1development__ProfilesDictionary PbDictionary;
typedef Opentelemetry__Proto__Profiles__V1development__ResourceProfiles PbResourceProfiles;
typedef Opentelemetry__Proto__Profiles__V1development__ScopeProfiles PbScopeProfiles;
typedef Opentelemetry__Proto__Profiles__V1development__Profile PbProfile;
typedef Opentelemetry__Proto__Profiles__V1development__ValueType PbValueType;
typedef Opentelemetry__Proto__Profiles__V1development__Sample PbSample;
typedef Opentelemetry__Proto__Profiles__V1development__Mapping PbMapping;
typedef Opentelemetry__Proto__Profiles__V1development__Location PbLocation;
typedef Opentelemetry__Proto__Profiles__V1development__Line PbLine;
typedef Opentelemetry__Proto__Profiles__V1development__Function PbFunction;
typedef Opentelemetry__Proto__Profiles__V1development__Stack PbStack;
typedef Opentelemetry__Proto__Profiles__V1development__Link PbLink;
typedef Opentelemetry__Proto__Profiles__V1development__KeyValueAndUnit PbKeyValueAndUnit;
typedef Opentelemetry__Proto__Resource__V1__Resource PbResource;
typedef Opentelemetry__Proto__Common__V1__InstrumentationScope PbScope;
typedef Opentelemetry__Proto__Common__V1__KeyValue PbKeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue PbAnyValue;

#define PB_STRING_VALUE OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE
#define PB_INT_VALUE OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE
#define PB_BOOL_VALUE OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_BOOL_VALUE
#define PB_STRINDEX_VALUE OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE_STRINDEX
#define PB_NO_VALUE OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE__NOT_SET

/* The descriptors, for protobuf_c_message_init(), _pack() and _unpack(). */
#define PB_REQUEST_DESCRIPTOR                                                                      \
	opentelemetry__proto__collector__profiles__v1development__export_profiles_service_request__descriptor
#define PB_RESPONSE_DESCRIPTOR                                                                     \
	opentelemetry__proto__collector__profiles__v1development__export_profiles_service_response__descriptor

#endif
