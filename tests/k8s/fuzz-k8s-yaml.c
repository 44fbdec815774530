/* SPDX-License-Identifier: MIT */
/* libFuzzer target: untrusted YAML through the manifest reader (YAML → JSON, object checks, ordering) and,
 * when a document parses, its objects through the rollout and pod judgement, which read server answers of
 * the same shape. Built by tests/k8s/fuzz-k8s.sh; its corpus is replayed by meson test. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "k8s-health.h"
#include "k8s-manifest.h"
#include "k8s-yaml.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        K8sYamlDocs docs = {};
        K8sManifestSet set = {};
        char *err = NULL; /* the error message, when there is one: built on every path, freed */

        if (k8s_yaml_parse((const char *) data, size, "fuzz.yaml", &docs, &err) == 0) {
                for (size_t i = 0; i < docs.n; i++) {
                        char msg[256];
                        K8sPodHealth p = {};
                        char *s = cJSON_PrintUnformatted(docs.docs[i].json);
                        /* What we send must be JSON the server (and cJSON) can read back. */
                        if (s) {
                                cJSON *back = cJSON_Parse(s);
                                if (!back)
                                        abort();
                                cJSON_Delete(back);
                                free(s);
                        }
                        (void) k8s_rollout_status(docs.docs[i].json, msg, sizeof msg);
                        if (k8s_pod_health(docs.docs[i].json, &p) >= 0)
                                k8s_pod_health_done(&p);
                }
                k8s_yaml_docs_done(&docs);
        }
        if (k8s_manifest_set_add_buffer(&set, (const char *) data, size, "fuzz.yaml", &err) >= 0)
                k8s_manifest_set_sort(&set);
        k8s_manifest_set_done(&set);
        free(err);
        return 0;
}
