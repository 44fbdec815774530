/* SPDX-License-Identifier: MIT */
/* The cluster driver, one state machine: each phase (starting-cluster, loading-images, applying,
 * waiting-rollout, up) with the minikube commands or API calls it starts, their completions, the retries
 * and the status they leave. It stays in one file (~850 lines) so that every transition reads in one place;
 * what is not a transition lives elsewhere: image archives and the node's image list in
 * supervisor-images.c, the manifests watch in supervisor-watch.c, the Kubernetes client in src/k8s. */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cleanup-libs.h"
#include "duration.h"
#include "k8s-apply.h"
#include "k8s-client.h"
#include "k8s-health.h"
#include "k8s-kubeconfig.h"
#include "k8s-manifest.h"
#include "log.h"
#include "supervisor-cluster.h"
#include "supervisor-command.h"
#include "supervisor-credentials.h"
#include "supervisor-images.h"
#include "supervisor-watch.h"
#include "util.h"

#define RETRY_INITIAL_USEC (5 * USEC_PER_SEC)
#define RETRY_MAX_USEC (5 * 60 * USEC_PER_SEC)
#define INVENTORY "otel-appliance"

typedef enum Phase {
        PHASE_CHECK_CLUSTER,
        PHASE_START_CLUSTER,
        PHASE_IMAGES,
        PHASE_APPLY,
        PHASE_ROLLOUT,
        PHASE_UP,
} Phase;

struct Cluster {
        ClusterHooks hooks;
        const SupervisorConfig *config;
        sd_event *event;
        char *kubeconfig_path;
        char *kubeconfig_env;
        char *images_work_dir;
        char *secrets_dir; /* <state_dir>/secrets: the passwords of the Secret clickhouse-credentials */

        Phase phase;
        Command *command;
        bool command_running;
        CommandDone command_done;
        sd_event_source *retry_timer;
        sd_event_source *poll_timer;
        sd_event_source *reapply_timer;
        DirWatch *manifests_watch;
        uint64_t backoff_usec;
        bool busy; /* an API request sequence is under way */
        bool stopping;

        /* minikube status */
        char *host, *apiserver, *kubelet;
        K8sClient *client;

        ImageSet images;
        size_t image_cursor;

        /* apply */
        uint64_t applied_usec; /* CLOCK_REALTIME of the last successful apply */
        size_t n_applied, n_pruned;
        char *apply_error;
        bool reapply_wanted;

        /* health */
        char *health_error;
        cJSON *workloads; /* status arrays, rebuilt at each check */
        cJSON *pods;
        bool healthy;
        bool up_once;   /* the stack was up at least once: problems now make it degraded */
        char *problems; /* what is wrong right now, for cluster_up() */
        /* Before up_once: the phase of the problem the status shows, which progress in that phase or an
         * earlier one (a retry on its way back) does not replace; STATE_STARTING when none is held. */
        SupervisorState held_state;
};

static void cluster_step(Cluster *c);

static void set_str(char **p, const char *v) {
        if (streq_ptr(*p, v))
                return;
        free(*p);
        *p = v ? strdup(v) : NULL;
}

/* A problem (problem = true) or progress. Before the stack was first up, either is the phase's status,
 * except that progress does not replace a problem until it gets past the phase the problem was met in: a
 * retry's "checking 2 images" does not hide "images the manifests need are not on the node: …" (and at
 * start_timeout the reason names what is wrong). Afterwards the owner judges ready/degraded from
 * cluster_up()'s problems: a problem is recorded there, and progress (a re-apply, images checked again
 * after the cluster came back) leaves that judgement alone. */
static void phase_vset(Cluster *c, SupervisorState s, bool problem, const char *format, va_list ap)
        _printf_(4, 0);
static void phase_vset(Cluster *c, SupervisorState s, bool problem, const char *format, va_list ap) {
        _cleanup_free_ char *msg = NULL;

        if (vasprintf(&msg, format, ap) < 0)
                msg = NULL;
        if (!c->up_once) {
                if (!problem && s <= c->held_state) {
                        log_debug("%s", strempty(msg));
                        return;
                }
                /* A failure is left by any progress: nothing is retried until the files change. */
                c->held_state = problem && s != STATE_FAILED ? s : STATE_STARTING;
                c->hooks.phase(s, msg, c->hooks.userdata);
        } else if (problem) {
                set_str(&c->problems, msg);
                c->hooks.changed(c->hooks.userdata);
        } else
                log_debug("%s", strempty(msg));
}

static void phase_reason(Cluster *c, SupervisorState s, const char *format, ...) _printf_(3, 4);
static void phase_reason(Cluster *c, SupervisorState s, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        phase_vset(c, s, true, format, ap);
        va_end(ap);
}

static void phase_progress(Cluster *c, SupervisorState s, const char *format, ...) _printf_(3, 4);
static void phase_progress(Cluster *c, SupervisorState s, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        phase_vset(c, s, false, format, ap);
        va_end(ap);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Cluster *c = userdata;
        c->retry_timer = sd_event_source_disable_unref(c->retry_timer);
        cluster_step(c);
        return 0;
}

/* Schedules the current phase again, with exponential back-off (5 s doubling to 5 min). */
static void retry_later(Cluster *c) {
        int r;

        c->backoff_usec = c->backoff_usec ? MIN(c->backoff_usec * 2, RETRY_MAX_USEC) : RETRY_INITIAL_USEC;
        c->retry_timer = sd_event_source_disable_unref(c->retry_timer);
        r = sd_event_add_time_relative(
                c->event, &c->retry_timer, CLOCK_MONOTONIC, c->backoff_usec, 100000, on_retry, c);
        if (r < 0)
                log_error_errno(r, "Failed to schedule a retry: %m");
        else
                log_info("Retrying in %.0f s.", (double) c->backoff_usec / 1e6);
}

static void advance(Cluster *c, Phase p) {
        c->phase = p;
        c->backoff_usec = 0;
        cluster_step(c);
}

/* Every command ends here first, so that cluster_idle() knows nothing runs any more. */
static void on_command_done(Command *cmd, const CommandResult *res, void *userdata) {
        Cluster *c = userdata;

        c->command_running = false;
        c->command_done(cmd, res, userdata);
}

/* "timed out after 15m (cluster.start_timeout)" or "failed (status 80)": how a minikube command ended. */
static const char *command_outcome(
        const CommandResult *res, int64_t timeout_nsec, const char *setting, char *buf, size_t size) {
        char d[DURATION_STRING_MAX];

        if (res->timed_out)
                (void) snprintf(
                        buf,
                        size,
                        "timed out after %s (%s)",
                        format_duration(timeout_nsec, d, sizeof(d)),
                        setting);
        else
                (void) snprintf(buf, size, "failed (status %d)", res->exit_status);
        return buf;
}

/* Each minikube command runs under the configured limit: `start` under cluster.start_timeout (a first start
 * downloads and boots a node, minutes), the others under cluster.command_timeout. On expiry the command gets
 * SIGTERM, then SIGKILL (supervisor-command.c), and the phase is retried with back-off. */
static int run_minikube(Cluster *c, const char *const *args, CommandDone done) {
        _cleanup_free_ const char **argv = NULL;
        const char *env[] = {c->kubeconfig_env, NULL};
        size_t n = 0, k = 0;
        int r;

        while (args[n])
                n++;
        argv = new0(const char *, n + 4);
        if (!argv)
                return -ENOMEM;
        argv[k++] = c->config->minikube;
        argv[k++] = "-p";
        argv[k++] = c->config->profile;
        for (size_t i = 0; i < n; i++)
                argv[k++] = args[i];
        c->command = command_free(c->command);
        c->command_done = done;
        r = command_run(
                c->event,
                argv,
                env,
                nsec_to_usec(
                        streq(args[0], "start") ? c->config->minikube_timeout : c->config->command_timeout),
                on_command_done,
                c,
                &c->command);
        c->command_running = r >= 0;
        return r;
}

/* --- starting-cluster -------------------------------------------------------------------------------- */

/* `minikube status -o json` prints one object per node (an array for several nodes); the first is the
 * control plane. Its exit status is non-zero whenever something is not running, so the JSON decides. */
static bool parse_minikube_status(Cluster *c, const char *out) {
        _cleanup_(cJSON_Deletep) cJSON *j = cJSON_Parse(out);
        const cJSON *o = cJSON_IsArray(j) ? cJSON_GetArrayItem(j, 0) : j;
        const cJSON *host = cJSON_GetObjectItemCaseSensitive(o, "Host");
        const cJSON *api = cJSON_GetObjectItemCaseSensitive(o, "APIServer");
        const cJSON *kubelet = cJSON_GetObjectItemCaseSensitive(o, "Kubelet");

        set_str(&c->host, cJSON_IsString(host) ? host->valuestring : NULL);
        set_str(&c->apiserver, cJSON_IsString(api) ? api->valuestring : NULL);
        set_str(&c->kubelet, cJSON_IsString(kubelet) ? kubelet->valuestring : NULL);
        return streq_ptr(c->host, "Running") && streq_ptr(c->apiserver, "Running") &&
               streq_ptr(c->kubelet, "Running");
}

static int connect_api(Cluster *c) {
        _cleanup_(k8s_kubeconfig_freep) K8sKubeconfig *kc = NULL;
        _cleanup_free_ char *error = NULL;
        int r;

        r = k8s_kubeconfig_load(c->kubeconfig_path, c->config->profile, &kc, &error);
        if (r < 0) {
                phase_reason(
                        c,
                        STATE_STARTING_CLUSTER,
                        "cannot read the kubeconfig of profile %s: %s",
                        c->config->profile,
                        error ?: strerror(-r));
                return r;
        }
        c->client = k8s_client_free(c->client);
        r = k8s_client_new(c->event, TAKE_PTR(kc), &c->client);
        if (r < 0) {
                phase_reason(
                        c, STATE_STARTING_CLUSTER, "cannot set up the Kubernetes client: %s", strerror(-r));
                return r;
        }
        k8s_client_set_timeouts(c->client, 30 * USEC_PER_SEC, 5 * USEC_PER_SEC);
        return 0;
}

static void on_minikube_start(Command *cmd, const CommandResult *res, void *userdata) {
        Cluster *c = userdata;

        if (res->exit_status != 0) {
                char how[128];
                command_outcome(res, c->config->minikube_timeout, "cluster.start_timeout", how, sizeof(how));
                phase_reason(c, STATE_STARTING_CLUSTER, "minikube start %s: %s", how, res->err_tail);
                log_warning("minikube start %s: %s", how, res->err_tail);
                retry_later(c);
                return;
        }
        log_info("minikube started.");
        c->phase = PHASE_CHECK_CLUSTER;
        cluster_step(c);
}

static void on_minikube_status(Command *cmd, const CommandResult *res, void *userdata) {
        Cluster *c = userdata;

        if (res->exit_status == 127 || res->exit_status == 126) {
                phase_reason(
                        c, STATE_STARTING_CLUSTER, "cannot run %s: %s", c->config->minikube, res->err_tail);
                retry_later(c);
                return;
        }
        if (res->timed_out) {
                /* No answer is not "stopped": starting it again now could only pile up commands. */
                char how[128];
                command_outcome(
                        res, c->config->command_timeout, "cluster.command_timeout", how, sizeof(how));
                phase_reason(c, STATE_STARTING_CLUSTER, "minikube status %s", how);
                retry_later(c);
                return;
        }
        if (!parse_minikube_status(c, res->out)) {
                _cleanup_free_ const char **args = NULL;
                size_t n = 0;
                int r;

                /* The cluster is gone or stopped: (re)start it, with the configured arguments. */
                log_info(
                        "minikube profile %s is not running (host %s, apiserver %s), starting it.",
                        c->config->profile,
                        strempty(c->host),
                        strempty(c->apiserver));
                phase_progress(
                        c, STATE_STARTING_CLUSTER, "starting minikube profile %s", c->config->profile);
                c->phase = PHASE_START_CLUSTER;
                while (c->config->start_args[n])
                        n++;
                args = new0(const char *, n + 2);
                if (!args) {
                        retry_later(c);
                        return;
                }
                args[0] = "start";
                for (size_t i = 0; i < n; i++)
                        args[i + 1] = c->config->start_args[i];
                r = run_minikube(c, args, on_minikube_start);
                if (r < 0) {
                        phase_reason(
                                c, STATE_STARTING_CLUSTER, "cannot run minikube start: %s", strerror(-r));
                        retry_later(c);
                }
                return;
        }
        if (connect_api(c) < 0) {
                retry_later(c);
                return;
        }
        /* After a restart of minikube a new node may lack the images: the image phase is cheap when they are
         * all present. */
        advance(c, PHASE_IMAGES);
}

/* --- loading-images ---------------------------------------------------------------------------------- */

static void load_next_image(Cluster *c);

static void on_image_list_after(Command *cmd, const CommandResult *res, void *userdata);

static void on_image_loaded(Command *cmd, const CommandResult *res, void *userdata) {
        Cluster *c = userdata;
        Image *img = c->images.items + c->image_cursor;

        if (res->exit_status != 0) {
                img->state = IMAGE_FAILED;
                free(img->error);
                char how[128];
                command_outcome(
                        res, c->config->command_timeout, "cluster.command_timeout", how, sizeof(how));
                if (asprintf(&img->error, "minikube image load %s: %s", how, res->err_tail) < 0)
                        img->error = NULL;
                log_warning("Loading %s failed: %s", img->archive.tarball, res->err_tail);
        } else {
                /* Checked against the node's list once all are loaded. */
                img->state = IMAGE_LOADED;
                log_info("Loaded %s (%s).", img->archive.tarball, img->archive.id);
        }
        c->image_cursor++;
        load_next_image(c);
}

static void load_next_image(Cluster *c) {
        int r;

        for (; c->image_cursor < c->images.n; c->image_cursor++) {
                Image *img = c->images.items + c->image_cursor;
                const char *args[] = {"image", "load", img->archive.tarball, NULL};

                if (img->state != IMAGE_PENDING)
                        continue;
                phase_progress(c, STATE_LOADING_IMAGES, "loading %s", img->archive.tarball);
                r = run_minikube(c, args, on_image_loaded);
                if (r < 0) {
                        img->state = IMAGE_FAILED;
                        set_str(&img->error, strerror(-r));
                        continue;
                }
                return;
        }
        /* All attempted: list again, to see that what was loaded is really there. */
        {
                const char *args[] = {"image", "ls", "--format", "json", NULL};
                r = run_minikube(c, args, on_image_list_after);
                if (r < 0) {
                        phase_reason(
                                c, STATE_LOADING_IMAGES, "cannot list the node's images: %s", strerror(-r));
                        retry_later(c);
                }
        }
}

static void on_image_list_after(Command *cmd, const CommandResult *res, void *userdata) {
        Cluster *c = userdata;

        if (res->exit_status != 0 || !image_set_settle(&c->images, res->out, true)) {
                phase_reason(
                        c,
                        STATE_LOADING_IMAGES,
                        "%zu of %zu images could not be loaded (see images in the status)",
                        image_set_n_failed(&c->images),
                        c->images.n);
                retry_later(c);
                return;
        }
        advance(c, PHASE_APPLY);
}

static void on_image_list_before(Command *cmd, const CommandResult *res, void *userdata) {
        Cluster *c = userdata;

        if (res->exit_status != 0) {
                char how[128];
                command_outcome(
                        res, c->config->command_timeout, "cluster.command_timeout", how, sizeof(how));
                phase_reason(c, STATE_LOADING_IMAGES, "minikube image ls %s: %s", how, res->err_tail);
                retry_later(c);
                return;
        }
        /* Only images the node lacks are loaded. */
        (void) image_set_settle(&c->images, res->out, false);
        c->image_cursor = 0;
        load_next_image(c);
}

static void start_images(Cluster *c) {
        const char *args[] = {"image", "ls", "--format", "json", NULL};
        int r;

        r = image_set_scan(&c->images, c->config->images_dir, c->images_work_dir);
        if (r < 0) {
                phase_reason(
                        c,
                        STATE_LOADING_IMAGES,
                        "cannot read the images directory %s: %s",
                        c->config->images_dir,
                        strerror(-r));
                retry_later(c);
                return;
        }
        phase_progress(c, STATE_LOADING_IMAGES, "checking %zu images", c->images.n);
        r = run_minikube(c, args, on_image_list_before);
        if (r < 0) {
                phase_reason(c, STATE_LOADING_IMAGES, "cannot run minikube image ls: %s", strerror(-r));
                retry_later(c);
        }
}

/* --- applying ---------------------------------------------------------------------------------------- */

static void start_credentials(Cluster *c);

static void on_applied(K8sClient *client, const K8sApplyResult *res, void *userdata) {
        Cluster *c = userdata;

        c->busy = false;
        if (res->result != K8S_RESULT_OK) {
                set_str(&c->apply_error, res->message);
                log_warning(
                        "Applying the manifests failed (%s): %s",
                        k8s_result_class_to_string(res->result),
                        res->message);
                if (res->result == K8S_RESULT_FATAL) {
                        /* A bad manifest stays bad until someone edits it: the file watch or the periodic
                         * re-apply brings us back here. */
                        phase_reason(
                                c,
                                STATE_FAILED,
                                "%s%s",
                                c->up_once ? "applying the manifests failed: " : "",
                                res->message);
                        return;
                }
                /* Usually the API server went away: start over from minikube's view of the cluster, which
                 * also reconnects with a fresh kubeconfig. */
                phase_reason(
                        c,
                        STATE_APPLYING,
                        "Kubernetes API unreachable while applying the manifests: %s",
                        res->message);
                c->phase = PHASE_CHECK_CLUSTER;
                retry_later(c);
                return;
        }
        c->apply_error = mfree(c->apply_error);
        c->applied_usec = now_usec(CLOCK_REALTIME);
        c->n_applied = res->n_applied;
        c->n_pruned = res->n_pruned;
        log_info("Applied %zu objects, pruned %zu.", res->n_applied, res->n_pruned);
        start_credentials(c);
}

/* After the manifests (the namespace exists then): the Secrets the workloads read their passwords from. Pods
 * that started before they existed wait in CreateContainerConfigError and start once they do. */
static void on_credentials(K8sResultClass result, const char *message, bool created, void *userdata) {
        Cluster *c = userdata;

        c->busy = false;
        if (result != K8S_RESULT_OK) {
                set_str(&c->apply_error, message);
                log_warning("The credentials Secrets could not be checked or created: %s", message);
                phase_reason(
                        c,
                        STATE_APPLYING,
                        "the credentials Secrets could not be checked or created: %s",
                        message);
                if (result == K8S_RESULT_RETRY)
                        c->phase = PHASE_CHECK_CLUSTER;
                retry_later(c);
                return;
        }
        phase_progress(
                c,
                STATE_WAITING_ROLLOUT,
                "applied %zu objects%s, waiting for the rollout",
                c->n_applied,
                created ? " and created the credentials Secrets" : "");
        advance(c, PHASE_ROLLOUT);
}

static void start_credentials(Cluster *c) {
        int r;

        c->busy = true;
        r = credentials_ensure(c->client, c->config->namespace, c->secrets_dir, on_credentials, c);
        if (r < 0) {
                c->busy = false;
                phase_reason(c, STATE_APPLYING, "cannot check the credentials Secrets: %s", strerror(-r));
                retry_later(c);
        }
}

static void start_apply(Cluster *c) {
        K8sManifestSet set = {};
        K8sApplyOptions opts = {
                .field_manager = K8S_FIELD_MANAGER,
                .inventory = INVENTORY,
                .default_namespace = c->config->namespace,
                .prune = true,
        };
        _cleanup_free_ char *error = NULL;
        int r;

        c->reapply_wanted = false;
        r = k8s_manifest_set_add_dir(&set, c->config->manifests_dir, &error);
        if (r < 0) {
                const char *err = error ?: strerror(-r);

                set_str(&c->apply_error, err);
                log_error("Manifests in %s are invalid: %s", c->config->manifests_dir, err);
                phase_reason(c, STATE_FAILED, "%s%s", c->up_once ? "manifests are invalid: " : "", err);
                k8s_manifest_set_done(&set);
                return;
        }
        r = image_set_check_referenced(&c->images, &set);
        if (r < 0) {
                _cleanup_free_ char *list = NULL;
                StrBuf b = STRBUF_INIT(4096);
                for (char **i = c->images.missing; i && *i; i++)
                        (void) strbuf_printf(&b, "%s%s", b.len ? ", " : "", *i);
                list = strbuf_steal(&b, NULL);
                phase_reason(
                        c,
                        STATE_LOADING_IMAGES,
                        "images the manifests need are not on the node: %s",
                        strempty(list));
                k8s_manifest_set_done(&set);
                c->phase = PHASE_IMAGES;
                retry_later(c);
                return;
        }

        phase_progress(c, STATE_APPLYING, "applying %zu objects from %s", set.n, c->config->manifests_dir);
        c->busy = true;
        r = k8s_apply(c->client, &set, &opts, on_applied, c);
        k8s_manifest_set_done(&set);
        if (r < 0) {
                c->busy = false;
                phase_reason(c, STATE_APPLYING, "cannot start applying: %s", strerror(-r));
                retry_later(c);
        }
}

/* --- waiting-rollout, and health once up ------------------------------------------------------------- */

static void on_health(K8sClient *client, const K8sHealthReport *rep, void *userdata) {
        Cluster *c = userdata;
        StrBuf problems = STRBUF_INIT(8192);

        c->busy = false;
        cJSON_Delete(c->workloads);
        cJSON_Delete(c->pods);
        c->workloads = cJSON_CreateArray();
        c->pods = cJSON_CreateArray();

        if (rep->result != K8S_RESULT_OK) {
                /* The API server does not answer, or no longer accepts our credentials (a cluster created
                 * anew has a new CA): is the cluster still there, and what does its kubeconfig say now? */
                const char *msg = startswith(rep->message, "Kubernetes API: ") ?: rep->message;

                set_str(&c->health_error, msg);
                phase_reason(c, STATE_WAITING_ROLLOUT, "Kubernetes API unreachable: %s", msg);
                strbuf_done(&problems);
                c->phase = PHASE_CHECK_CLUSTER;
                retry_later(c);
                return;
        }
        c->health_error = mfree(c->health_error);

        for (size_t i = 0; i < rep->n_workloads; i++) {
                const K8sWorkloadHealth *w = rep->workloads + i;
                cJSON *o = cJSON_CreateObject();

                cJSON_AddStringToObject(o, "kind", w->kind);
                cJSON_AddStringToObject(o, "name", w->name);
                cJSON_AddStringToObject(o, "rollout", k8s_rollout_state_to_string(w->state));
                cJSON_AddStringToObject(o, "message", w->message);
                cJSON_AddItemToArray(c->workloads, o);
                if (w->state != K8S_ROLLOUT_DONE)
                        (void) strbuf_printf(
                                &problems,
                                "%s%s %s: %s",
                                problems.len ? "; " : "",
                                w->kind,
                                w->name,
                                w->message);
        }
        for (size_t i = 0; i < rep->n_pods; i++) {
                const K8sPodHealth *p = rep->pods + i;
                cJSON *o = cJSON_CreateObject();

                cJSON_AddStringToObject(o, "name", p->name);
                cJSON_AddStringToObject(o, "phase", strempty(p->phase));
                cJSON_AddBoolToObject(o, "ready", p->ready);
                cJSON_AddNumberToObject(o, "restarts", p->restarts);
                if (p->reason) {
                        cJSON_AddStringToObject(o, "reason", p->reason);
                        cJSON_AddStringToObject(o, "container", strempty(p->container));
                        cJSON_AddStringToObject(o, "message", strempty(p->message));
                        (void) strbuf_printf(
                                &problems,
                                "%spod %s: %s%s%s%s",
                                problems.len ? "; " : "",
                                p->name,
                                p->reason,
                                p->message ? " (" : "",
                                strempty(p->message),
                                p->message ? ")" : "");
                }
                cJSON_AddItemToArray(c->pods, o);
        }

        c->healthy = rep->result == K8S_RESULT_OK && k8s_health_report_ready(rep);
        set_str(&c->problems, problems.len ? problems.data : NULL);
        strbuf_done(&problems);

        if (c->phase == PHASE_ROLLOUT && c->healthy) {
                c->phase = PHASE_UP;
                c->up_once = true;
                c->backoff_usec = 0;
                log_info("Rollout complete.");
        } else if (c->phase == PHASE_ROLLOUT && !c->up_once)
                phase_reason(c, STATE_WAITING_ROLLOUT, "%s", c->problems ?: "waiting for the workloads");
        c->hooks.changed(c->hooks.userdata);
}

static void start_health(Cluster *c) {
        int r;

        if (c->busy || !c->client)
                return;
        c->busy = true;
        r = k8s_health_check(c->client, c->config->namespace, on_health, c);
        if (r < 0) {
                c->busy = false;
                log_warning_errno(r, "Failed to start the health check: %m");
        }
}

/* --- the driver -------------------------------------------------------------------------------------- */

static void cluster_step(Cluster *c) {
        const char *status[] = {"status", "-o", "json", NULL};
        int r;

        if (c->stopping)
                return;
        switch (c->phase) {
        case PHASE_CHECK_CLUSTER:
        case PHASE_START_CLUSTER:
                c->phase = PHASE_CHECK_CLUSTER;
                phase_progress(c, STATE_STARTING_CLUSTER, "checking minikube");
                r = run_minikube(c, status, on_minikube_status);
                if (r < 0) {
                        phase_reason(
                                c,
                                STATE_STARTING_CLUSTER,
                                "cannot run %s: %s",
                                c->config->minikube,
                                strerror(-r));
                        retry_later(c);
                }
                break;
        case PHASE_IMAGES:
                start_images(c);
                break;
        case PHASE_APPLY:
                start_apply(c);
                break;
        case PHASE_ROLLOUT:
        case PHASE_UP:
                start_health(c);
                break;
        }
}

static int on_poll(sd_event_source *s, uint64_t usec, void *userdata) {
        Cluster *c = userdata;
        int r;

        if ((c->phase == PHASE_ROLLOUT || c->phase == PHASE_UP) && !c->retry_timer) {
                if (c->reapply_wanted && !c->busy)
                        advance(c, PHASE_APPLY);
                else
                        start_health(c);
        }
        r = sd_event_source_set_time_relative(s, nsec_to_usec(c->config->poll_interval));
        if (r >= 0)
                (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        return 0;
}

int cluster_reapply(Cluster *c) {
        if (c->phase != PHASE_ROLLOUT && c->phase != PHASE_UP && !(c->phase == PHASE_APPLY && !c->busy))
                return -EBUSY;
        c->reapply_wanted = true;
        if (!c->busy) {
                c->retry_timer = sd_event_source_disable_unref(c->retry_timer);
                advance(c, PHASE_APPLY);
        }
        return 0;
}

/* Drift correction: the manifests are applied again periodically, whatever changed in the cluster. */
static int on_reapply_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        Cluster *c = userdata;
        int r;

        if (c->phase == PHASE_UP || c->phase == PHASE_ROLLOUT || (c->phase == PHASE_APPLY && c->apply_error))
                c->reapply_wanted = true;
        r = sd_event_source_set_time_relative(s, nsec_to_usec(c->config->reapply_interval));
        if (r >= 0)
                (void) sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        if (c->reapply_wanted && c->phase == PHASE_APPLY && !c->busy)
                advance(c, PHASE_APPLY);
        return 0;
}

/* A changed manifest file is applied on the next poll (which also batches a burst of writes). */
static void on_manifests_changed(void *userdata) {
        Cluster *c = userdata;

        log_info("Manifests changed, applying them again.");
        c->reapply_wanted = true;
        if (c->phase == PHASE_APPLY && !c->busy && c->apply_error) {
                c->retry_timer = sd_event_source_disable_unref(c->retry_timer);
                advance(c, PHASE_APPLY);
        }
}

bool cluster_up(const Cluster *c, StrBuf *reasons) {
        if (!c->up_once)
                return false;
        if (c->problems) {
                if (reasons->len)
                        (void) strbuf_puts(reasons, "; ");
                (void) strbuf_puts(reasons, c->problems);
        }
        if (c->apply_error) {
                if (reasons->len)
                        (void) strbuf_puts(reasons, "; ");
                (void) strbuf_printf(reasons, "applying the manifests failed: %s", c->apply_error);
        }
        return true;
}

bool cluster_idle(const Cluster *c) {
        return !c->command_running;
}

int cluster_status_json(Cluster *c, cJSON *root) {
        cJSON *cl = cJSON_AddObjectToObject(root, "cluster"),
              *images = cJSON_AddArrayToObject(root, "images"), *apply;
        const K8sKubeconfig *kc = c->client ? k8s_client_kubeconfig(c->client) : NULL;
        int r;

        if (!cl || !images)
                return -ENOMEM;
        cJSON_AddStringToObject(cl, "profile", c->config->profile);
        cJSON_AddStringToObject(cl, "namespace", c->config->namespace);
        if (c->host)
                cJSON_AddStringToObject(cl, "host", c->host);
        else
                cJSON_AddNullToObject(cl, "host");
        if (c->apiserver)
                cJSON_AddStringToObject(cl, "apiserver", c->apiserver);
        else
                cJSON_AddNullToObject(cl, "apiserver");
        if (c->kubelet)
                cJSON_AddStringToObject(cl, "kubelet", c->kubelet);
        else
                cJSON_AddNullToObject(cl, "kubelet");
        if (kc)
                cJSON_AddStringToObject(cl, "server", kc->server);
        else
                cJSON_AddNullToObject(cl, "server");
        if (c->health_error)
                cJSON_AddStringToObject(cl, "error", c->health_error);

        r = image_set_status_json(&c->images, images);
        if (r < 0)
                return r;

        apply = cJSON_AddObjectToObject(root, "apply");
        if (apply) {
                char t[32];
                if (c->applied_usec) {
                        time_t s = (time_t) (c->applied_usec / USEC_PER_SEC);
                        struct tm tm;
                        (void) gmtime_r(&s, &tm);
                        (void) strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm);
                        cJSON_AddStringToObject(apply, "last_applied", t);
                } else
                        cJSON_AddNullToObject(apply, "last_applied");
                cJSON_AddNumberToObject(apply, "objects", (double) c->n_applied);
                cJSON_AddNumberToObject(apply, "pruned", (double) c->n_pruned);
                if (c->apply_error)
                        cJSON_AddStringToObject(apply, "error", c->apply_error);
                else
                        cJSON_AddNullToObject(apply, "error");
        }

        cJSON_AddItemToObject(
                root, "workloads", c->workloads ? cJSON_Duplicate(c->workloads, true) : cJSON_CreateArray());
        cJSON_AddItemToObject(root, "pods", c->pods ? cJSON_Duplicate(c->pods, true) : cJSON_CreateArray());
        return 0;
}

int cluster_new(sd_event *event, const SupervisorConfig *config, const ClusterHooks *hooks, Cluster **ret) {
        _cleanup_free_ Cluster *c = NULL;

        c = new0(Cluster, 1);
        if (!c)
                return log_oom();
        c->hooks = *hooks;
        c->config = config;
        c->event = sd_event_ref(event);
        if (asprintf(&c->kubeconfig_path, "%s/kubeconfig", config->state_dir) < 0 ||
            asprintf(&c->kubeconfig_env, "KUBECONFIG=%s", c->kubeconfig_path) < 0 ||
            asprintf(&c->images_work_dir, "%s/images", config->state_dir) < 0 ||
            asprintf(&c->secrets_dir, "%s/secrets", config->state_dir) < 0) {
                sd_event_unref(c->event);
                return log_oom();
        }
        *ret = TAKE_PTR(c);
        return 0;
}

int cluster_start(Cluster *c) {
        int r;

        if (mkdir(c->config->state_dir, 0750) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create %s: %m", c->config->state_dir);
        if (mkdir(c->images_work_dir, 0750) < 0 && errno != EEXIST)
                return log_error_errno(errno, "Failed to create %s: %m", c->images_work_dir);

        r = dir_watch_new(
                c->event,
                c->config->manifests_dir,
                "manifests-inotify",
                on_manifests_changed,
                c,
                &c->manifests_watch);
        if (r < 0)
                log_warning_errno(
                        r,
                        "Cannot watch %s for changes, relying on the periodic re-apply: %m",
                        c->config->manifests_dir);

        r = sd_event_add_time_relative(
                c->event,
                &c->poll_timer,
                CLOCK_MONOTONIC,
                nsec_to_usec(c->config->poll_interval),
                0,
                on_poll,
                c);
        if (r >= 0)
                r = sd_event_add_time_relative(
                        c->event,
                        &c->reapply_timer,
                        CLOCK_MONOTONIC,
                        nsec_to_usec(c->config->reapply_interval),
                        0,
                        on_reapply_timer,
                        c);
        if (r < 0)
                return log_error_errno(r, "Failed to add the cluster timers: %m");
        (void) sd_event_source_set_description(c->poll_timer, "cluster-poll");
        (void) sd_event_source_set_description(c->reapply_timer, "reapply");

        c->phase = PHASE_CHECK_CLUSTER;
        cluster_step(c);
        return 0;
}

void cluster_stop(Cluster *c) {
        c->stopping = true;
        /* A minikube command under way is killed; the cluster itself is left running. */
        c->command = command_free(c->command);
        c->command_running = false;
        c->retry_timer = sd_event_source_disable_unref(c->retry_timer);
}

Cluster *cluster_free(Cluster *c) {
        if (!c)
                return NULL;
        command_free(c->command);
        k8s_client_free(c->client);
        sd_event_source_disable_unref(c->retry_timer);
        sd_event_source_disable_unref(c->poll_timer);
        sd_event_source_disable_unref(c->reapply_timer);
        dir_watch_free(c->manifests_watch);
        image_set_done(&c->images);
        cJSON_Delete(c->workloads);
        cJSON_Delete(c->pods);
        free(c->kubeconfig_path);
        free(c->kubeconfig_env);
        free(c->images_work_dir);
        free(c->secrets_dir);
        free(c->host);
        free(c->apiserver);
        free(c->kubelet);
        free(c->apply_error);
        free(c->health_error);
        free(c->problems);
        sd_event_unref(c->event);
        free(c);
        return NULL;
}
