/* SPDX-License-Identifier: MIT */
/* Rollout and pod judgement on objects shaped as the API server returns them; each case mirrors a branch of
 * kubectl's rollout_status.go, with kubectl's sentence. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "k8s-health.h"

static int judge(const char *json, char *msg, size_t n) {
        cJSON *o = cJSON_Parse(json);
        cr_assert_not_null(o, "bad fixture: %s", json);
        int r = k8s_rollout_status(o, msg, n);
        cJSON_Delete(o);
        return r;
}

static void expect(const char *json, K8sRolloutState want, const char *want_msg) {
        char msg[256] = "";
        int r = judge(json, msg, sizeof msg);
        cr_assert_eq(r, (int) want, "got %d (%s) for %s", r, msg, json);
        cr_assert_str_eq(msg, want_msg);
}

#define DEP(gen, spec, status)                                                                              \
        "{\"kind\":\"Deployment\",\"metadata\":{\"name\":\"web\",\"generation\":" gen "},\"spec\":" spec    \
        ",\"status\":" status "}"

Test(k8s_health, deployment) {
        expect(DEP("2",
                   "{\"replicas\":1}",
                   "{\"observedGeneration\":1,\"replicas\":1,\"updatedReplicas\":1}"),
               K8S_ROLLOUT_PROGRESSING,
               "Waiting for deployment spec update to be observed...");
        expect(DEP("2",
                   "{\"replicas\":3}",
                   "{\"observedGeneration\":2,\"replicas\":3,\"updatedReplicas\":1,\"availableReplicas\":1}"),
               K8S_ROLLOUT_PROGRESSING,
               "Waiting for deployment \"web\" rollout to finish: 1 out of 3 new replicas have been updated...");
        expect(DEP("2",
                   "{\"replicas\":2}",
                   "{\"observedGeneration\":2,\"replicas\":3,\"updatedReplicas\":2,\"availableReplicas\":2}"),
               K8S_ROLLOUT_PROGRESSING,
               "Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending termination...");
        expect(DEP("2",
                   "{\"replicas\":2}",
                   "{\"observedGeneration\":2,\"replicas\":2,\"updatedReplicas\":2,\"availableReplicas\":1}"),
               K8S_ROLLOUT_PROGRESSING,
               "Waiting for deployment \"web\" rollout to finish: 1 of 2 updated replicas are available...");
        expect(DEP("2",
                   "{\"replicas\":2}",
                   "{\"observedGeneration\":2,\"replicas\":2,\"updatedReplicas\":2,\"availableReplicas\":2}"),
               K8S_ROLLOUT_DONE,
               "deployment \"web\" successfully rolled out");
        /* Zero replicas, counts omitted by the API: done. */
        expect(DEP("1", "{\"replicas\":0}", "{\"observedGeneration\":1}"),
               K8S_ROLLOUT_DONE,
               "deployment \"web\" successfully rolled out");
        expect(DEP("3",
                   "{\"replicas\":1}",
                   "{\"observedGeneration\":3,\"conditions\":[{\"type\":\"Available\",\"status\":\"False\"},"
                   "{\"type\":\"Progressing\",\"status\":\"False\",\"reason\":\"ProgressDeadlineExceeded\"}]}"),
               K8S_ROLLOUT_FAILED,
               "deployment \"web\" exceeded its progress deadline");
}

#define DS(gen, spec, status)                                                                               \
        "{\"kind\":\"DaemonSet\",\"metadata\":{\"name\":\"agent\",\"generation\":" gen "},\"spec\":" spec   \
        ",\"status\":" status "}"

Test(k8s_health, daemonset) {
        const char *ru = "{\"updateStrategy\":{\"type\":\"RollingUpdate\"}}";
        expect(DS("2", "{\"updateStrategy\":{\"type\":\"OnDelete\"}}", "{\"observedGeneration\":2}"),
               K8S_ROLLOUT_FAILED,
               "rollout status is only available for RollingUpdate strategy type");
        char buf[512];
        (void) snprintf(buf, sizeof buf, DS("2", "%s", "{\"observedGeneration\":1}"), ru);
        expect(buf, K8S_ROLLOUT_PROGRESSING, "Waiting for daemon set spec update to be observed...");
        (void) snprintf(
                buf,
                sizeof buf,
                DS("2",
                   "%s",
                   "{\"observedGeneration\":2,\"desiredNumberScheduled\":3,\"updatedNumberScheduled\":2}"),
                ru);
        expect(buf,
               K8S_ROLLOUT_PROGRESSING,
               "Waiting for daemon set \"agent\" rollout to finish: 2 out of 3 new pods have been updated...");
        (void) snprintf(
                buf,
                sizeof buf,
                DS("2",
                   "%s",
                   "{\"observedGeneration\":2,\"desiredNumberScheduled\":3,\"updatedNumberScheduled\":3,"
                   "\"numberAvailable\":1}"),
                ru);
        expect(buf,
               K8S_ROLLOUT_PROGRESSING,
               "Waiting for daemon set \"agent\" rollout to finish: 1 of 3 updated pods are available...");
        (void) snprintf(
                buf,
                sizeof buf,
                DS("2",
                   "%s",
                   "{\"observedGeneration\":2,\"desiredNumberScheduled\":3,\"updatedNumberScheduled\":3,"
                   "\"numberAvailable\":3}"),
                ru);
        expect(buf, K8S_ROLLOUT_DONE, "daemon set \"agent\" successfully rolled out");
}

#define STS(gen, spec, status)                                                                              \
        "{\"kind\":\"StatefulSet\",\"metadata\":{\"name\":\"db\",\"generation\":" gen "},\"spec\":" spec    \
        ",\"status\":" status "}"

Test(k8s_health, statefulset) {
        expect(STS("1", "{\"replicas\":1,\"updateStrategy\":{\"type\":\"OnDelete\"}}", "{}"),
               K8S_ROLLOUT_FAILED,
               "rollout status is only available for RollingUpdate strategy type");
        /* observedGeneration 0 (never observed) is "not observed" even at generation 0. */
        expect(STS("1", "{\"replicas\":1}", "{}"),
               K8S_ROLLOUT_PROGRESSING,
               "Waiting for statefulset spec update to be observed...");
        expect(STS("2", "{\"replicas\":3}", "{\"observedGeneration\":2,\"readyReplicas\":1}"),
               K8S_ROLLOUT_PROGRESSING,
               "Waiting for 2 pods to be ready...");
        /* The server's defaults: RollingUpdate with partition 0. */
        const char *spec =
                "{\"replicas\":2,\"updateStrategy\":{\"type\":\"RollingUpdate\",\"rollingUpdate\":"
                "{\"partition\":0}}}";
        char buf[512];
        (void) snprintf(
                buf,
                sizeof buf,
                STS("2", "%s", "{\"observedGeneration\":2,\"readyReplicas\":2,\"updatedReplicas\":1}"),
                spec);
        expect(buf,
               K8S_ROLLOUT_PROGRESSING,
               "Waiting for partitioned roll out to finish: 1 out of 2 new pods have been updated...");
        (void) snprintf(
                buf,
                sizeof buf,
                STS("2", "%s", "{\"observedGeneration\":2,\"readyReplicas\":2,\"updatedReplicas\":2}"),
                spec);
        expect(buf, K8S_ROLLOUT_DONE, "partitioned roll out complete: 2 new pods have been updated...");
        /* Without rollingUpdate details: revisions decide. */
        expect(STS("2",
                   "{\"replicas\":1,\"updateStrategy\":{\"type\":\"RollingUpdate\"}}",
                   "{\"observedGeneration\":2,\"readyReplicas\":1,\"updatedReplicas\":0,\"currentRevision\":\"db-1\","
                   "\"updateRevision\":\"db-2\"}"),
               K8S_ROLLOUT_PROGRESSING,
               "waiting for statefulset rolling update to complete 0 pods at revision db-2...");
        expect(STS("2",
                   "{\"replicas\":1,\"updateStrategy\":{\"type\":\"RollingUpdate\"}}",
                   "{\"observedGeneration\":2,\"readyReplicas\":1,\"currentReplicas\":1,\"currentRevision\":\"db-2\","
                   "\"updateRevision\":\"db-2\"}"),
               K8S_ROLLOUT_DONE,
               "statefulset rolling update complete 1 pods at revision db-2...");
}

Test(k8s_health, other_kinds_and_bad_objects) {
        char msg[64];
        cr_assert_eq(
                judge("{\"kind\":\"Service\",\"metadata\":{\"name\":\"x\"}}", msg, sizeof msg), -EOPNOTSUPP);
        cr_assert_eq(judge("{\"kind\":\"Deployment\",\"metadata\":{}}", msg, sizeof msg), -EINVAL);
        cr_assert_eq(judge("[]", msg, sizeof msg), -EINVAL);
}

static K8sPodHealth pod(const char *json) {
        K8sPodHealth p = {};
        cJSON *o = cJSON_Parse(json);
        cr_assert_not_null(o, "bad fixture: %s", json);
        cr_assert_eq(k8s_pod_health(o, &p), 0);
        cJSON_Delete(o);
        return p;
}

#define POD(status) "{\"metadata\":{\"name\":\"p\"},\"status\":" status "}"

Test(k8s_health, pods) {
        K8sPodHealth p = pod(POD(
                "{\"phase\":\"Running\",\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}],"
                "\"containerStatuses\":[{\"name\":\"c\",\"restartCount\":2,\"state\":{\"running\":{}}}]}"));
        cr_assert(p.ready);
        cr_assert_eq(p.restarts, 2);
        cr_assert_null(p.reason);
        cr_assert_str_eq(p.phase, "Running");
        k8s_pod_health_done(&p);

        const char *reasons[] = {
                "CrashLoopBackOff",
                "ImagePullBackOff",
                "ErrImageNeverPull",
                "ErrImagePull",
                "CreateContainerConfigError"};
        for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
                char buf[512];
                (void) snprintf(
                        buf,
                        sizeof buf,
                        POD("{\"phase\":\"Pending\",\"containerStatuses\":[{\"name\":\"ok\",\"state\":{\"running\":{}}},"
                            "{\"name\":\"bad\",\"restartCount\":4,\"state\":{\"waiting\":{\"reason\":\"%s\","
                            "\"message\":\"why\"}}}]}"),
                        reasons[i]);
                p = pod(buf);
                cr_assert_str_eq(p.reason, reasons[i]);
                cr_assert_str_eq(p.container, "bad");
                cr_assert_str_eq(p.message, "why");
                cr_assert_eq(p.restarts, 4);
                cr_assert(!p.ready);
                k8s_pod_health_done(&p);
        }

        /* Normal start-up is not a problem. */
        p = pod(POD("{\"phase\":\"Pending\",\"containerStatuses\":[{\"name\":\"c\",\"state\":{\"waiting\":"
                    "{\"reason\":\"ContainerCreating\"}}}]}"));
        cr_assert_null(p.reason);
        k8s_pod_health_done(&p);

        /* Init containers count too. */
        p = pod(POD(
                "{\"phase\":\"Pending\",\"initContainerStatuses\":[{\"name\":\"init\",\"state\":{\"waiting\":"
                "{\"reason\":\"CrashLoopBackOff\"}}}]}"));
        cr_assert_str_eq(p.reason, "CrashLoopBackOff");
        cr_assert_str_eq(p.container, "init");
        cr_assert_null(p.message);
        k8s_pod_health_done(&p);

        p = pod(POD("{\"phase\":\"Pending\",\"conditions\":[{\"type\":\"PodScheduled\",\"status\":\"False\","
                    "\"reason\":\"Unschedulable\",\"message\":\"0/1 nodes are available\"}]}"));
        cr_assert_str_eq(p.reason, "Unschedulable");
        cr_assert_str_eq(p.message, "0/1 nodes are available");
        cr_assert_null(p.container);
        k8s_pod_health_done(&p);

        p = pod(POD(
                "{\"phase\":\"Running\",\"containerStatuses\":[{\"name\":\"c\",\"state\":{\"terminated\":"
                "{\"exitCode\":137,\"reason\":\"OOMKilled\"}}}]}"));
        cr_assert_str_eq(p.reason, "OOMKilled");
        k8s_pod_health_done(&p);

        p = pod(POD("{\"phase\":\"Failed\",\"reason\":\"Evicted\",\"message\":\"low on memory\"}"));
        cr_assert_str_eq(p.reason, "Evicted");
        cr_assert_str_eq(p.phase, "Failed");
        k8s_pod_health_done(&p);

        /* No status at all (just created). */
        p = pod("{\"metadata\":{\"name\":\"fresh\"}}");
        cr_assert_str_eq(p.phase, "Unknown");
        cr_assert_null(p.reason);
        cr_assert(!p.ready);
        k8s_pod_health_done(&p);

        cJSON *o = cJSON_Parse("{\"status\":{}}");
        cr_assert_eq(k8s_pod_health(o, &p), -EINVAL);
        cJSON_Delete(o);
}

Test(k8s_health, report_readiness) {
        K8sWorkloadHealth w[2] = {
                {.kind = (char *) "Deployment", .name = (char *) "a", .state = K8S_ROLLOUT_DONE},
                {.kind = (char *) "DaemonSet", .name = (char *) "b", .state = K8S_ROLLOUT_DONE}};
        K8sPodHealth p[1] = {{.name = (char *) "a-1"}};
        K8sHealthReport r = {.workloads = w, .n_workloads = 2, .pods = p, .n_pods = 1};
        cr_assert(k8s_health_report_ready(&r));
        cr_assert_eq(k8s_health_report_workload(&r, "DaemonSet", "b"), &w[1]);
        cr_assert_null(k8s_health_report_workload(&r, "Deployment", "b"));
        cr_assert_eq(k8s_health_report_pod(&r, "a-1"), &p[0]);
        p[0].reason = (char *) "CrashLoopBackOff";
        cr_assert(!k8s_health_report_ready(&r));
        p[0].reason = NULL;
        w[1].state = K8S_ROLLOUT_PROGRESSING;
        cr_assert(!k8s_health_report_ready(&r));
        w[1].state = K8S_ROLLOUT_DONE;
        r.result = K8S_RESULT_RETRY;
        cr_assert(!k8s_health_report_ready(&r));
}
