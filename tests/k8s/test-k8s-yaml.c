/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "k8s-yaml.h"

static char *err; /* the last error message (errmsg.h), replaced by each call */

/* Parses one document and returns it printed as compact JSON. */
static char *to_json(const char *yaml) {
        K8sYamlDocs docs = {};
        int r = k8s_yaml_parse(yaml, strlen(yaml), "t.yaml", &docs, &err);
        cr_assert_eq(r, 0, "parse failed: %s", err);
        cr_assert_eq(docs.n, 1, "expected one document, got %zu", docs.n);
        char *s = cJSON_PrintUnformatted(docs.docs[0].json);
        k8s_yaml_docs_done(&docs);
        return s;
}

static void expect(const char *yaml, const char *json) {
        char *s = to_json(yaml);
        cr_assert_str_eq(s, json, "YAML:\n%s", yaml);
        free(s);
}

static int parse_err(const char *yaml) {
        K8sYamlDocs docs = {};
        int r = k8s_yaml_parse(yaml, strlen(yaml), "bad.yaml", &docs, &err);
        cr_assert_lt(r, 0, "expected an error for:\n%s", yaml);
        cr_assert_eq(docs.n, 0);
        return r;
}

Test(k8s_yaml, scalars_keep_their_types) {
        expect("a: 1\nb: -7\nc: 1.5\nd: true\ne: false\nf: null\ng: ~\nh:\ni: text\n",
               "{\"a\":1,\"b\":-7,\"c\":1.5,\"d\":true,\"e\":false,\"f\":null,\"g\":null,\"h\":null,\"i\":\"text\"}");
}

Test(k8s_yaml, quoted_scalars_that_look_like_numbers_stay_strings) {
        expect("a: \"1\"\nb: '8081'\nc: \"true\"\nd: 'null'\ne: \"0x10\"\n",
               "{\"a\":\"1\",\"b\":\"8081\",\"c\":\"true\",\"d\":\"null\",\"e\":\"0x10\"}");
}

Test(k8s_yaml, yaml_1_1_booleans_as_kubernetes_reads_them) {
        expect("a: yes\nb: No\nc: ON\nd: off\ne: y\nf: N\ng: True\n",
               "{\"a\":true,\"b\":false,\"c\":true,\"d\":false,\"e\":true,\"f\":false,\"g\":true}");
}

Test(k8s_yaml, integer_forms) {
        expect("a: 0x1F\nb: 0o17\nc: 0755\nd: 0b101\ne: 1_000\nf: +5\ng: 0\n",
               "{\"a\":31,\"b\":15,\"c\":493,\"d\":5,\"e\":1000,\"f\":5,\"g\":0}");
}

Test(k8s_yaml, big_integers_are_exact) {
        expect("a: 9223372036854775807\nb: -9223372036854775808\nc: 9007199254740993\n",
               "{\"a\":9223372036854775807,\"b\":-9223372036854775808,\"c\":9007199254740993}");
        parse_err("a: 9223372036854775808\n");
        cr_assert(err && strstr(err, "64 bits"), "%s", err);
}

Test(k8s_yaml, not_numbers_are_strings) {
        expect("a: 1.2.3\nb: 08\nc: 12abc\nd: 0x\ne: '-'\nf: 1e\ng: v1\n",
               "{\"a\":\"1.2.3\",\"b\":\"08\",\"c\":\"12abc\",\"d\":\"0x\",\"e\":\"-\",\"f\":\"1e\",\"g\":\"v1\"}");
}

Test(k8s_yaml, floats) {
        expect("a: 1e3\nb: .5\nc: -2.5E-1\n", "{\"a\":1000,\"b\":0.5,\"c\":-0.25}");
}

Test(k8s_yaml, inf_and_nan_are_rejected) {
        parse_err("a: .inf\n");
        cr_assert(err && strstr(err, "bad.yaml:1:4:"), "%s", err);
        parse_err("a: .NaN\n");
}

Test(k8s_yaml, block_scalars_are_strings) {
        expect("a: |\n  line 1\n  42\nb: >\n  folded\n  text\nc: |-\n  123\n",
               "{\"a\":\"line 1\\n42\\n\",\"b\":\"folded text\\n\",\"c\":\"123\"}");
}

Test(k8s_yaml, explicit_tags) {
        expect("a: !!str 42\nb: !!int \"7\"\nc: !!bool yes\n", "{\"a\":\"42\",\"b\":7,\"c\":true}");
        parse_err("a: !!int abc\n");
        cr_assert(err && strstr(err, "not a valid"), "%s", err);
        parse_err("a: !custom x\n");
        cr_assert(err && strstr(err, "unsupported tag"), "%s", err);
}

Test(k8s_yaml, nested_collections_and_flow_style) {
        expect("spec:\n  ports:\n  - {name: http, port: 8123}\n  - name: native\n    port: 9000\n  args: [a, 1, \"2\"]\n",
               "{\"spec\":{\"ports\":[{\"name\":\"http\",\"port\":8123},{\"name\":\"native\",\"port\":9000}],"
               "\"args\":[\"a\",1,\"2\"]}}");
}

Test(k8s_yaml, keys_stay_text) {
        expect("1: a\ntrue: b\nnull: c\n", "{\"1\":\"a\",\"true\":\"b\",\"null\":\"c\"}");
}

Test(k8s_yaml, anchors_and_aliases_expand) {
        expect("base: &b {cpu: 10m, memory: 32Mi}\nreq: *b\nname: &n loggen\nother: *n\n",
               "{\"base\":{\"cpu\":\"10m\",\"memory\":\"32Mi\"},\"req\":{\"cpu\":\"10m\",\"memory\":\"32Mi\"},"
               "\"name\":\"loggen\",\"other\":\"loggen\"}");
        parse_err("a: *nope\n");
        cr_assert(err && strstr(err, "unknown alias"), "%s", err);
}

Test(k8s_yaml, merge_keys_and_duplicates_are_errors) {
        parse_err("a: &x {b: 1}\nc:\n  <<: *x\n");
        cr_assert(err && strstr(err, "merge keys"), "%s", err);
        parse_err("a: 1\nb: 2\na: 3\n");
        cr_assert(err && strstr(err, "bad.yaml:3:1: duplicate key 'a'"), "%s", err);
}

Test(k8s_yaml, multiple_documents_with_lines) {
        const char *y = "# leading comment\n"
                        "apiVersion: v1\n"
                        "kind: Namespace\n"
                        "---\n"
                        "# only a comment\n"
                        "---\n"
                        "apiVersion: v1\n"
                        "kind: ConfigMap\n"
                        "...\n"
                        "---\n"
                        "a: b\n";
        K8sYamlDocs docs = {};
        cr_assert_eq(k8s_yaml_parse(y, strlen(y), "m.yaml", &docs, &err), 0, "%s", err);
        cr_assert_eq(docs.n, 3);
        cr_assert_eq(docs.docs[0].line, 2);
        cr_assert_eq(docs.docs[1].line, 7);
        cr_assert_eq(docs.docs[2].line, 11);
        cr_assert_str_eq(cJSON_GetObjectItem(docs.docs[1].json, "kind")->valuestring, "ConfigMap");
        k8s_yaml_docs_done(&docs);
}

Test(k8s_yaml, syntax_errors_name_file_and_line) {
        cr_assert_eq(parse_err("a: 1\nb: [1, 2\nc: 3\n"), -EINVAL);
        cr_assert(err && strstr(err, "bad.yaml:"), "%s", err);
        parse_err("a: b\n  c: d\n");
        cr_assert(err && strstr(err, "bad.yaml:2:"), "%s", err);
        parse_err("key: \"unterminated\n");
        cr_assert(err && strstr(err, "bad.yaml:"), "%s", err);
        parse_err("a:\n\t- tab\n");
        cr_assert(err && strstr(err, "bad.yaml:2:"), "%s", err);
}

Test(k8s_yaml, limits) {
        /* Nesting beyond the limit. */
        char deep[4 * K8S_YAML_MAX_DEPTH + 16];
        size_t n = 0;
        for (int i = 0; i < K8S_YAML_MAX_DEPTH + 5; i++)
                deep[n++] = '[';
        deep[n] = '\0';
        cr_assert_eq(parse_err(deep), -E2BIG);
        cr_assert(err && strstr(err, "nesting"), "%s", err);

        /* A billion laughs stops at the node limit. */
        const char *laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
                             "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                             "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
                             "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                             "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
                             "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
                             "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n";
        cr_assert_eq(parse_err(laughs), -E2BIG);
}

Test(k8s_yaml, file_errors) {
        K8sYamlDocs docs = {};
        cr_assert_eq(k8s_yaml_parse_file("/nonexistent/x.yaml", &docs, &err), -ENOENT);
        cr_assert(err && strstr(err, "/nonexistent/x.yaml"), "%s", err);
        cr_assert_eq(k8s_yaml_parse_file("/", &docs, &err), -EINVAL);
}

Test(k8s_yaml, empty_input) {
        K8sYamlDocs docs = {};
        cr_assert_eq(k8s_yaml_parse("", 0, "e.yaml", &docs, &err), 0);
        cr_assert_eq(docs.n, 0);
        cr_assert_eq(k8s_yaml_parse("---\n---\n", 8, "e.yaml", &docs, &err), 0);
        cr_assert_eq(docs.n, 0);
}
