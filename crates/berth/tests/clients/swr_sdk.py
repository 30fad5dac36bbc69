#!/usr/bin/env python3
"""Drives berth's Huawei SWR dialect (/v2/manage/...) with Huawei's own Python SDK.

Usage: swr_sdk.py ENDPOINT AK SK [PUSHED_REPO] [--member USER_ID:USER_NAME] [--extended]
                  [--skip GROUP ...]

  ENDPOINT     berth's URL, e.g. http://127.0.0.1:5000 (no region: the SDK signs with AK/SK only)
  AK SK        an access key pair (until authentication exists berth ignores the signature)
  PUSHED_REPO  NAMESPACE/REPO:TAG of an image the harness has already pushed (REPO may be nested,
               e.g. ns/team/app:v1). The tag calls run only when it is given; when it is absent
               the script says so on a `skip` line. The tag it names is DELETED by the script.
  --member     the user granted namespace and repository permissions (default
               swrtest-member:swrtest-member); berth must accept it as a user id and name.
  --extended   also drive the SDK's v3 list calls and the retag call (create_repo_tag).
  --skip GROUP leave out a group (nsauth, repoauth, tags); every skip is printed, never silent.

SDK: huaweicloudsdkswr + huaweicloudsdkcore 3.1.219 (pinned in CI). Uses only the SDK and the
standard library. For every call it checks the HTTP status SWR documents, then every field of
the SDK's response model twice: the Python type of the attribute the SDK parsed, and the JSON
type of the key in the raw body (the SDK casts primitives, so int("5") or bool("false") would
otherwise pass unnoticed). Prints `ok <call>` per call, and exits 1 with `FAIL: ...` on stderr at
the first mismatch.
"""

import argparse
import json
import re
import sys
import traceback
import uuid

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions import exceptions as sdk_exc
from huaweicloudsdkcore.http.http_handler import HttpHandler
from huaweicloudsdkswr.v2 import SwrClient
from huaweicloudsdkswr.v2 import model as M

NS = "swrtest"


class Fail(Exception):
    pass


def fail(msg):
    raise Fail(msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def ok(call):
    print("ok", call, flush=True)


# ---- what went over the wire (SDK's own request/response hooks, observation only) ----

class Wire:
    request = None  # huaweicloudsdkcore.sdk_request.SdkRequest, signed
    response = None  # requests.Response

    def on_request(self, **kw):
        self.request = kw.get("request")
        self.response = None

    def on_response(self, **kw):
        self.response = kw.get("response")

    def raw_json(self):
        r = self.response
        if r is None:
            fail("no HTTP response was recorded")
        if not r.content:
            return None
        ctype = r.headers.get("Content-Type", "")
        check(ctype.startswith("application/json"),
              "%s %s: body is not declared JSON (Content-Type %r): %r"
              % (r.request.method, r.request.url, ctype, r.content[:200]))
        try:
            return json.loads(r.content)
        except ValueError as e:
            fail("%s %s: body is not JSON (%s): %r" % (r.request.method, r.request.url, e, r.content[:200]))


WIRE = Wire()
AUTH_RE = re.compile(r"^SDK-HMAC-SHA256 Access=(\S+), SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$")


def check_signed(ak):
    req = WIRE.request
    check(req is not None, "no request recorded")
    h = {k.lower(): v for k, v in req.header_params.items()}
    m = AUTH_RE.match(h.get("authorization", ""))
    check(m is not None, "request not signed: Authorization=%r" % h.get("authorization"))
    check(m.group(1) == ak, "signed with AK %r, expected %r" % (m.group(1), ak))
    signed = m.group(2).split(";")
    for need in ("host", "x-sdk-date"):
        check(need in signed, "SignedHeaders %r lacks %s" % (m.group(2), need))
    check(re.match(r"^\d{8}T\d{6}Z$", h.get("x-sdk-date", "")), "bad X-Sdk-Date %r" % h.get("x-sdk-date"))


# ---- model checks ----

PY = {"int": int, "str": str, "bool": bool, "float": float}
JS = {"int": (int,), "str": (str,), "bool": (bool,), "float": (int, float)}

# (model, python attribute) pairs that may be null / absent: SWR leaves them empty.
NULLABLE = {("ShowReposTagResp", "deleted")}
# attributes the SDK fills from the body as a whole or from response headers, not from a JSON key
HEADER_KEYS = {"body", "Content-Range", "X-Swr-Dockerlogin", "X-Swr-Expireat", "x-swr-expireat"}


def json_type_ok(t, v):
    if t == "int":
        return type(v) is int  # bool is an int subclass in Python: reject it
    if t == "float":
        return type(v) in (int, float)
    return isinstance(v, JS[t])


def check_value(t, py, raw, where):
    """t: the SDK's openapi type string; py: what the SDK parsed; raw: the JSON value."""
    lm = re.match(r"^list\[(.*)\]$", t)
    dm = re.match(r"^dict\(([^,]*), (.*)\)$", t)
    if lm:
        check(type(raw) is list, "%s: JSON %r is not an array" % (where, raw))
        check(type(py) is list and len(py) == len(raw), "%s: SDK parsed %r" % (where, py))
        for i, (p, r) in enumerate(zip(py, raw)):
            check_value(lm.group(1), p, r, "%s[%d]" % (where, i))
    elif dm:
        check(type(raw) is dict, "%s: JSON %r is not an object" % (where, raw))
        for k in raw:
            check_value(dm.group(2), py[k], raw[k], "%s[%r]" % (where, k))
    elif t in PY:
        check(json_type_ok(t, raw), "%s: JSON value %r (%s) is not a JSON %s"
              % (where, raw, type(raw).__name__, t))
        check(type(py) is PY[t], "%s: SDK parsed %r (%s), expected %s" % (where, py, type(py).__name__, t))
    else:
        check_model(getattr(M, t), py, raw, where)


def check_model(cls, obj, raw, where=None):
    """Every field of the SDK model must be in the raw JSON object with the right JSON type and
    parse to the right Python type."""
    where = where or cls.__name__
    check(type(raw) is dict, "%s: JSON %r is not an object" % (where, raw))
    check(isinstance(obj, cls), "%s: SDK gave %r, not a %s" % (where, obj, cls.__name__))
    for attr, t in cls.openapi_types.items():
        key = cls.attribute_map[attr]
        if key in HEADER_KEYS:
            continue
        nullable = (cls.__name__, attr) in NULLABLE
        if key not in raw:
            check(nullable, "%s: JSON key %r missing (SDK attribute %s: %s); body keys: %s"
                  % (where, key, attr, t, sorted(raw)))
            continue
        if raw[key] is None:
            check(nullable, "%s.%s: JSON null, expected %s" % (where, key, t))
            continue
        check_value(t, getattr(obj, attr), raw[key], "%s.%s" % (where, key))


def check_list_body(resp, item_cls, what):
    raw = WIRE.raw_json()
    check(type(raw) is list, "%s: the body must be a bare JSON array, got %s"
          % (what, json.dumps(raw)[:200]))
    check(resp.body is not None or raw == [], "%s: SDK parsed no body" % what)
    items = resp.body or []
    check(len(items) == len(raw), "%s: SDK parsed %d items from %d" % (what, len(items), len(raw)))
    for i, (o, r) in enumerate(zip(items, raw)):
        check_model(item_cls, o, r, "%s[%d]" % (what, i))
    return items


def parse_content_range(resp, what):
    cr = resp.content_range
    check(cr is not None, "%s: no Content-Range response header (SWR: offset-count/total)" % what)
    m = re.match(r"^(\d+)-(\d+)/(\d+)$", cr)
    check(m is not None, "%s: Content-Range %r is not offset-count/total" % (what, cr))
    return tuple(int(x) for x in m.groups())


def expect_status(resp, code, call):
    check(resp.status_code == code, "%s: HTTP %s, SWR answers %d" % (call, resp.status_code, code))


def expect_empty_or_object(call):
    raw = WIRE.raw_json()
    check(raw is None or type(raw) is dict, "%s: success body must be empty or a JSON object, got %r"
          % (call, raw))


def call(name, fn, status, ak):
    try:
        resp = fn()
    except sdk_exc.ServiceResponseException as e:
        fail("%s raised %s: status %s error_code %r error_msg %r"
             % (name, type(e).__name__, e.status_code, e.error_code, e.error_msg))
    check_signed(ak)
    expect_status(resp, status, name)
    return resp


def expect_error(name, fn, statuses, ak):
    """The call must raise the SDK's ClientRequestException with one of the statuses, the body an
    SWR error object {"error_code": str, "error_msg": str}."""
    try:
        fn()
    except sdk_exc.ClientRequestException as e:
        check_signed(ak)
        check(e.status_code in statuses, "%s: status %s, expected %s (error_code %r error_msg %r)"
              % (name, e.status_code, statuses, e.error_code, e.error_msg))
        raw = WIRE.raw_json()
        check(type(raw) is dict and type(raw.get("error_code")) is str and type(raw.get("error_msg")) is str,
              "%s: error body must be {\"error_code\": str, \"error_msg\": str}, got %r" % (name, raw))
        check(raw["error_code"] and raw["error_msg"], "%s: empty error_code/error_msg %r" % (name, raw))
        check(e.error_code == raw["error_code"] and e.error_msg == raw["error_msg"],
              "%s: SDK read error_code %r error_msg %r from %r" % (name, e.error_code, e.error_msg, raw))
        return e
    except sdk_exc.ServiceResponseException as e:
        fail("%s: expected a 4xx ClientRequestException, got %s status %s (%r)"
             % (name, type(e).__name__, e.status_code, e.error_msg))
    fail("%s: expected HTTP %s, the call succeeded" % (name, statuses))


# ---- the scenario ----

def run(args):
    ak = args.ak
    wire = HttpHandler().add_request_handler(WIRE.on_request).add_response_handler(WIRE.on_response)
    client = (SwrClient.new_builder()
              .with_credentials(BasicCredentials(args.ak, args.sk))
              .with_endpoint(args.endpoint)
              .with_http_handler(wire)
              .build())
    member_id, _, member_name = args.member.partition(":")
    member_name = member_name or member_id
    skip = set(args.skip or [])
    if args.pushed_repo:
        check(args.pushed_repo.split("/", 1)[0] != NS,
              "PUSHED_REPO %r must lie outside namespace %s, which this script creates and deletes"
              % (args.pushed_repo, NS))
    for group in sorted(skip):
        print("skip group %s (asked for with --skip)" % group, flush=True)

    def R(name, fn, status):
        return call(name, fn, status, ak)

    def E(name, fn, statuses):
        return expect_error(name, fn, statuses, ak)

    # -- leftovers of an earlier, failed run --
    try:
        client.show_namespace(M.ShowNamespaceRequest(namespace=NS))
        leftover = client.list_repos_details(M.ListReposDetailsRequest(namespace=NS)).body or []
        for repo in leftover:
            client.delete_repo(M.DeleteRepoRequest(namespace=NS, repository=repo.name))
        client.delete_namespaces(M.DeleteNamespacesRequest(namespace=NS))
        print("note: removed namespace %s left by an earlier run (%d repositories)" % (NS, len(leftover)))
    except sdk_exc.ClientRequestException as e:
        check(e.status_code == 404, "cleanup: show_namespace %s: %s" % (NS, e))

    # -- errors --
    missing = "swrtest-missing-" + uuid.uuid4().hex[:8]
    E("show_namespace (missing -> 404)", lambda: client.show_namespace(M.ShowNamespaceRequest(namespace=missing)), (404,))
    ok("show_namespace missing -> 404 error_code/error_msg")
    E("create_namespace (bad name)", lambda: client.create_namespace(
        M.CreateNamespaceRequest(body=M.CreateNamespaceRequestBody(namespace="Bad_Name!"))), (400,))
    ok("create_namespace bad name -> 400")
    e = E("create_namespace (reserved 'manage')", lambda: client.create_namespace(
        M.CreateNamespaceRequest(body=M.CreateNamespaceRequestBody(namespace="manage"))), (400, 403, 409))
    ok("create_namespace manage -> %d (reserved)" % e.status_code)

    # -- namespaces --
    r = R("create_namespace", lambda: client.create_namespace(
        M.CreateNamespaceRequest(body=M.CreateNamespaceRequestBody(namespace=NS))), 201)
    expect_empty_or_object("create_namespace")
    ok("create_namespace")
    E("create_namespace (duplicate)", lambda: client.create_namespace(
        M.CreateNamespaceRequest(body=M.CreateNamespaceRequestBody(namespace=NS))), (409,))
    ok("create_namespace duplicate -> 409")

    r = R("list_namespaces", lambda: client.list_namespaces(M.ListNamespacesRequest(filter="namespace::" + NS)), 200)
    raw = WIRE.raw_json()
    check_model(M.ListNamespacesResponse, r, raw)
    check([n.name for n in r.namespaces] == [NS], "list_namespaces filter=namespace::%s gave %r"
          % (NS, [n.name for n in r.namespaces]))
    ns = r.namespaces[0]
    check(ns.id > 0, "namespace id %r" % ns.id)
    check(ns.auth in (1, 3, 7), "namespace auth %r is not 1, 3 or 7" % ns.auth)
    ok("list_namespaces filter=namespace::%s (id %d, auth %d)" % (NS, ns.id, ns.auth))
    r = R("list_namespaces (no filter)", lambda: client.list_namespaces(M.ListNamespacesRequest()), 200)
    check_model(M.ListNamespacesResponse, r, WIRE.raw_json())
    check(NS in [n.name for n in r.namespaces], "unfiltered list_namespaces lacks %s" % NS)
    ok("list_namespaces")

    r = R("show_namespace", lambda: client.show_namespace(M.ShowNamespaceRequest(namespace=NS)), 200)
    check_model(M.ShowNamespaceResponse, r, WIRE.raw_json())
    check((r.id, r.name, r.auth, r.creator_name) == (ns.id, NS, ns.auth, ns.creator_name),
          "show_namespace %r differs from the list item %r" % (r.to_dict(), ns.to_dict()))
    ok("show_namespace")

    # -- namespace permissions --
    if "nsauth" not in skip:
        def ns_auth():
            r = R("show_namespace_auth", lambda: client.show_namespace_auth(M.ShowNamespaceAuthRequest(namespace=NS)), 200)
            check_model(M.ShowNamespaceAuthResponse, r, WIRE.raw_json())
            check(r.name == NS, "show_namespace_auth name %r" % r.name)
            check(r.self_auth.auth in (1, 3, 7), "self_auth.auth %r" % r.self_auth.auth)
            return {a.user_id: a for a in r.others_auths}
        ns_auth()
        ok("show_namespace_auth")
        R("create_namespace_auth", lambda: client.create_namespace_auth(M.CreateNamespaceAuthRequest(
            namespace=NS, body=[M.UserAuth(user_id=member_id, user_name=member_name, auth=1)])), 201)
        expect_empty_or_object("create_namespace_auth")
        others = ns_auth()
        check(member_id in others and others[member_id].auth == 1,
              "after create_namespace_auth, others_auths %r" % {k: v.to_dict() for k, v in others.items()})
        ok("create_namespace_auth (+show)")
        R("update_namespace_auth", lambda: client.update_namespace_auth(M.UpdateNamespaceAuthRequest(
            namespace=NS, body=[M.UserAuth(user_id=member_id, user_name=member_name, auth=3)])), 201)
        expect_empty_or_object("update_namespace_auth")
        others = ns_auth()
        check(others.get(member_id) is not None and others[member_id].auth == 3,
              "after update_namespace_auth to 3: %r" % {k: v.to_dict() for k, v in others.items()})
        ok("update_namespace_auth (+show)")
        R("delete_namespace_auth", lambda: client.delete_namespace_auth(M.DeleteNamespaceAuthRequest(
            namespace=NS, body=[member_id])), 204)
        check(member_id not in ns_auth(), "member still listed after delete_namespace_auth")
        ok("delete_namespace_auth (+show)")

    # -- repositories --
    R("create_repo app1", lambda: client.create_repo(M.CreateRepoRequest(namespace=NS, body=M.CreateRepoRequestBody(
        repository="app1", category="linux", description="first", is_public=False))), 201)
    expect_empty_or_object("create_repo")
    ok("create_repo app1 (JSON body)")
    R("create_repo team/app", lambda: client.create_repo(M.CreateRepoRequest(namespace=NS, body=M.CreateRepoRequestBody(
        repository="team/app", category="other", description="nested", is_public=True))), 201)
    ok("create_repo team/app (JSON body, nested)")
    # The seed's form: the fields as query parameters, no body. The SDK's CreateRepoRequest has no
    # query fields, so this goes through the SDK's generic (still signed) request path.
    R("create_repo viaquery (query parameters)", lambda: client.do_http_request(
        method="POST", resource_path="/v2/manage/namespaces/{namespace}/repos",
        path_params={"namespace": NS},
        query_params=[("repository", "viaquery"), ("category", "database"),
                      ("description", "made via query"), ("is_public", "false")],
        header_params={"Content-Type": "application/json"}, body=None,
        response_type="CreateRepoResponse", response_headers=[]), 201)
    ok("create_repo viaquery (query parameters)")
    E("create_repo (duplicate)", lambda: client.create_repo(M.CreateRepoRequest(namespace=NS, body=M.CreateRepoRequestBody(
        repository="app1", category="linux", is_public=False))), (409,))
    ok("create_repo duplicate -> 409")
    E("create_repo (missing namespace)", lambda: client.create_repo(M.CreateRepoRequest(namespace=missing,
        body=M.CreateRepoRequestBody(repository="x", category="other", is_public=False))), (404,))
    ok("create_repo in missing namespace -> 404")

    def show(repo, name=None):
        r = R("show_repository %s" % repo, lambda: client.show_repository(
            M.ShowRepositoryRequest(namespace=NS, repository=repo)), 200)
        check_model(M.ShowRepositoryResponse, r, WIRE.raw_json())
        name = name or repo
        check(r.name == name, "show_repository %s: name %r" % (repo, r.name))
        check(r.ns_id == ns.id, "show_repository %s: ns_id %r, namespace id %r" % (repo, r.ns_id, ns.id))
        check(r.id > 0 and r.size >= 0 and r.num_images >= 0 and r.num_download >= 0,
              "show_repository %s: counters %r" % (repo, r.to_dict()))
        for f in ("path", "internal_path"):
            check(getattr(r, f).endswith("/%s/%s" % (NS, name)), "show_repository %s: %s %r" % (repo, f, getattr(r, f)))
        check(r.created and r.updated, "show_repository %s: created %r updated %r" % (repo, r.created, r.updated))
        return r

    app1 = show("app1")
    check((app1.category, app1.description, app1.is_public, app1.num_images, app1.size)
          == ("linux", "first", False, 0, 0), "show_repository app1: %r" % app1.to_dict())
    ok("show_repository app1 (summary: every field)")
    nested = show("team/app")
    check((nested.category, nested.description, nested.is_public) == ("other", "nested", True),
          "show_repository team/app: %r" % nested.to_dict())
    ok("show_repository team/app (sent as team%2Fapp)")
    dollar = show("team$app", name="team/app")
    check(dollar.id == nested.id, "team$app is repository %r, team/app is %r" % (dollar.id, nested.id))
    ok("show_repository team$app (sent as team%24app)")
    vq = show("viaquery")
    check((vq.category, vq.description, vq.is_public) == ("database", "made via query", False),
          "show_repository viaquery: %r" % vq.to_dict())
    ok("show_repository viaquery")
    E("show_repository (missing)", lambda: client.show_repository(
        M.ShowRepositoryRequest(namespace=NS, repository="nope")), (404,))
    ok("show_repository missing -> 404")

    def list_repos(what, req, expect_total=None):
        r = R(what, lambda: client.list_repos_details(req), 200)
        items = check_list_body(r, M.ShowReposResp, what)
        off, count, total = parse_content_range(r, what)
        check(count == len(items), "%s: Content-Range %r but %d items" % (what, r.content_range, len(items)))
        if expect_total is not None:
            check(total == expect_total, "%s: Content-Range total %d, expected %d" % (what, total, expect_total))
        for it in items:
            check(it.total_range == total, "%s: total_range %r, Content-Range total %d" % (what, it.total_range, total))
        return items, (off, count, total)

    items, _ = list_repos("list_repos_details namespace=%s" % NS, M.ListReposDetailsRequest(namespace=NS), 3)
    by_name = {i.name: i for i in items}
    check(set(by_name) == {"app1", "team/app", "viaquery"}, "list_repos_details: %r" % sorted(by_name))
    for i in items:
        check(i.namespace == NS, "list item %s namespace %r" % (i.name, i.namespace))
    a = by_name["app1"]
    check((a.category, a.description, a.is_public, a.num_images) == ("linux", "first", False, 0),
          "list item app1: %r" % a.to_dict())
    check(a.path == app1.path and a.internal_path == app1.internal_path, "list item app1 paths differ from show")
    ok("list_repos_details namespace=%s (in one namespace)" % NS)
    items, cr = list_repos("list_repos_details limit=2", M.ListReposDetailsRequest(
        namespace=NS, limit="2", offset="0", order_column="updated_at", order_type="desc"), 3)
    check(len(items) == 2 and cr[0] == 0, "limit=2 offset=0: %d items, Content-Range %r" % (len(items), cr))
    items2, cr2 = list_repos("list_repos_details limit=2 offset=2", M.ListReposDetailsRequest(
        namespace=NS, limit="2", offset="2", order_column="updated_at", order_type="desc"), 3)
    check(len(items2) == 1 and cr2[0] == 2, "limit=2 offset=2: %d items, Content-Range %r" % (len(items2), cr2))
    check({i.name for i in items} | {i.name for i in items2} == set(by_name), "pages overlap or miss a repository")
    ok("list_repos_details paging limit/offset + Content-Range")
    items, _ = list_repos("list_repos_details filter", M.ListReposDetailsRequest(filter="namespace::%s|name::team" % NS))
    check([i.name for i in items] == ["team/app"], "filter namespace::%s|name::team gave %r" % (NS, [i.name for i in items]))
    ok("list_repos_details filter=namespace::%s|name::team" % NS)
    items, _ = list_repos("list_repos_details (all namespaces)", M.ListReposDetailsRequest(limit="1000", offset="0"))
    check(set(by_name) <= {i.name for i in items if i.namespace == NS},
          "cross-namespace list lacks repositories of %s" % NS)
    ok("list_repos_details (across namespaces)")

    R("update_repo app1", lambda: client.update_repo(M.UpdateRepoRequest(namespace=NS, repository="app1",
        body=M.UpdateRepoRequestBody(is_public=True, category="database", description="updated"))), 201)
    expect_empty_or_object("update_repo")
    u = show("app1")
    check((u.category, u.description, u.is_public) == ("database", "updated", True), "after update_repo: %r" % u.to_dict())
    check(u.id == app1.id and u.created == app1.created, "update_repo changed id/created")
    ok("update_repo app1 (+show)")
    R("update_repo team$app", lambda: client.update_repo(M.UpdateRepoRequest(namespace=NS, repository="team$app",
        body=M.UpdateRepoRequestBody(is_public=False))), 201)
    u = show("team/app")
    check((u.is_public, u.category, u.description) == (False, "other", "nested"),
          "update_repo with only is_public changed other fields or not it: %r" % u.to_dict())
    ok("update_repo team$app is_public only (+show)")
    E("update_repo (missing)", lambda: client.update_repo(M.UpdateRepoRequest(namespace=NS, repository="nope",
        body=M.UpdateRepoRequestBody(is_public=False))), (404,))
    ok("update_repo missing -> 404")

    # -- repository permissions --
    if "repoauth" not in skip:
        def repo_auth(repo):
            r = R("show_user_repository_auth", lambda: client.show_user_repository_auth(
                M.ShowUserRepositoryAuthRequest(namespace=NS, repository=repo)), 200)
            check_model(M.ShowUserRepositoryAuthResponse, r, WIRE.raw_json())
            check(r.self_auth.auth in (1, 3, 7), "repository self_auth.auth %r" % r.self_auth.auth)
            return {a.user_id: a for a in r.others_auths}
        repo_auth("team/app")
        ok("show_user_repository_auth team/app")
        R("create_user_repository_auth", lambda: client.create_user_repository_auth(M.CreateUserRepositoryAuthRequest(
            namespace=NS, repository="team/app", body=[M.UserAuth(user_id=member_id, user_name=member_name, auth=1)])), 201)
        expect_empty_or_object("create_user_repository_auth")
        others = repo_auth("team/app")
        check(others.get(member_id) is not None and others[member_id].auth == 1,
              "after create_user_repository_auth: %r" % {k: v.to_dict() for k, v in others.items()})
        ok("create_user_repository_auth (+show)")
        R("update_user_repository_auth", lambda: client.update_user_repository_auth(M.UpdateUserRepositoryAuthRequest(
            namespace=NS, repository="team/app", body=[M.UserAuth(user_id=member_id, user_name=member_name, auth=7)])), 201)
        others = repo_auth("team/app")
        check(others.get(member_id) is not None and others[member_id].auth == 7, "after update_user_repository_auth to 7")
        ok("update_user_repository_auth (+show)")
        R("delete_user_repository_auth", lambda: client.delete_user_repository_auth(M.DeleteUserRepositoryAuthRequest(
            namespace=NS, repository="team/app", body=[member_id])), 204)
        check(member_id not in repo_auth("team/app"), "member still listed after delete_user_repository_auth")
        ok("delete_user_repository_auth (+show)")

    # -- extended: v3 list of repositories --
    if args.extended:
        def v3_page(marker):
            r = R("list_repo_details (v3)", lambda: client.list_repo_details(
                M.ListRepoDetailsRequest(namespace=NS, limit=2, marker=marker)), 200)
            raw = WIRE.raw_json()
            check(type(raw) is dict and type(raw.get("repos")) is list, "v3 repos list: %r" % raw)
            check(r.repos is not None and len(r.repos) == len(raw["repos"]), "v3 repos: SDK parsed %r" % r.repos)
            for i, (o, rr) in enumerate(zip(r.repos, raw["repos"])):
                check_model(M.ShowReposRespV3, o, rr, "repos[%d]" % i)
            if raw.get("nextMarker") is not None:
                check(type(raw["nextMarker"]) is int and type(r.next_marker) is int,
                      "v3 nextMarker must be a JSON integer: %r" % raw["nextMarker"])
            return [x.name for x in r.repos], r.next_marker
        names, marker = v3_page(None)
        check(len(names) == 2 and marker is not None, "v3 limit=2 of 3: %r, nextMarker %r" % (names, marker))
        more, marker = v3_page(marker)
        names += more
        check(sorted(names) == sorted(by_name), "v3 list over pages: %r" % names)
        ok("list_repo_details (v3, nextMarker paging)")

    # -- tags of the image the harness pushed --
    if not args.pushed_repo:
        print("skip tags: no PUSHED_REPO given (list_repository_tags, show_repo_tag, delete_repo_tag not run)", flush=True)
    elif "tags" in skip:
        pass  # announced above
    else:
        repo_ref, _, tag = args.pushed_repo.rpartition(":")
        tns, _, trepo = repo_ref.partition("/")
        check(tns and trepo and tag, "PUSHED_REPO %r is not NAMESPACE/REPO:TAG" % args.pushed_repo)

        def list_tags(what, **q):
            r = R(what, lambda: client.list_repository_tags(
                M.ListRepositoryTagsRequest(namespace=tns, repository=trepo, **q)), 200)
            items = check_list_body(r, M.ShowReposTagResp, what)
            raw = WIRE.raw_json()
            for rr in raw:
                check("Tag" in rr, "%s: tag list items name the tag \"Tag\" (capital T), keys %s" % (what, sorted(rr)))
            off, count, total = parse_content_range(r, what)
            check(count == len(items), "%s: Content-Range %r, %d items" % (what, r.content_range, len(items)))
            return items, total

        pushed = R("show_repository (pushed)", lambda: client.show_repository(
            M.ShowRepositoryRequest(namespace=tns, repository=trepo)), 200)
        check_model(M.ShowRepositoryResponse, pushed, WIRE.raw_json())
        check(pushed.num_images >= 1 and pushed.size > 0,
              "pushed repository %s: num_images %d size %d" % (repo_ref, pushed.num_images, pushed.size))
        ok("show_repository %s (counters after push)" % repo_ref)

        items, total = list_tags("list_repository_tags")
        by_tag = {t.tag: t for t in items}
        check(tag in by_tag, "list_repository_tags %s: %r lacks %r" % (repo_ref, sorted(by_tag), tag))
        t = by_tag[tag]
        check(t.digest.startswith("sha256:") and len(t.digest) == 71, "tag digest %r" % t.digest)
        check(t.repo_id == pushed.id, "tag repo_id %r, repository id %r" % (t.repo_id, pushed.id))
        check(t.schema in (1, 2) and t.tag_type in (0, 1) and t.size > 0, "tag %r" % t.to_dict())
        check(t.path.endswith("/%s:%s" % (repo_ref, tag)), "tag path %r" % t.path)
        ok("list_repository_tags %s (bare array, \"Tag\")" % repo_ref)
        items, _ = list_tags("list_repository_tags limit=1", limit="1", offset="0")
        check(len(items) == 1, "limit=1 gave %d" % len(items))
        items, _ = list_tags("list_repository_tags tag=", tag=tag)
        check(tag in [i.tag for i in items], "tag=%s filter gave %r" % (tag, [i.tag for i in items]))
        items, _ = list_tags("list_repository_tags filter", filter="offset::0|limit::10|tag::%s" % tag)
        check(tag in [i.tag for i in items], "filter tag::%s gave %r" % (tag, [i.tag for i in items]))
        ok("list_repository_tags limit/offset/tag/filter")

        r = R("show_repo_tag", lambda: client.show_repo_tag(
            M.ShowRepoTagRequest(namespace=tns, repository=trepo, tag=tag)), 200)
        raw = WIRE.raw_json()
        check_model(M.ShowRepoTagResponse, r, raw)
        check("tag" in raw, "show_repo_tag names the tag \"tag\" (lower case), keys %s" % sorted(raw))
        check((r.tag, r.digest, r.id, r.repo_id) == (tag, t.digest, t.id, t.repo_id),
              "show_repo_tag %r differs from the list item %r" % (r.to_dict(), t.to_dict()))
        ok("show_repo_tag %s:%s (\"tag\")" % (repo_ref, tag))
        E("show_repo_tag (missing)", lambda: client.show_repo_tag(
            M.ShowRepoTagRequest(namespace=tns, repository=trepo, tag="no-such-tag")), (404,))
        ok("show_repo_tag missing -> 404")

        if args.extended:
            copy = tag + "-copy"
            R("create_repo_tag", lambda: client.create_repo_tag(M.CreateRepoTagRequest(namespace=tns, repository=trepo,
                body=M.CreateRepoTagRequestBody(source_tag=tag, destination_tag=copy, override=False))), 201)
            r = R("show_repo_tag (copy)", lambda: client.show_repo_tag(
                M.ShowRepoTagRequest(namespace=tns, repository=trepo, tag=copy)), 200)
            check(r.digest == t.digest, "retagged %s has digest %r, source %r" % (copy, r.digest, t.digest))
            r = R("list_repository_tag (v3)", lambda: client.list_repository_tag(
                M.ListRepositoryTagRequest(namespace=tns, repository=trepo, limit=1)), 200)
            raw = WIRE.raw_json()
            check(type(raw) is dict and type(raw.get("tags")) is list and len(raw["tags"]) == 1, "v3 tags: %r" % raw)
            check_model(M.ShowReposTagRespV3, r.tags[0], raw["tags"][0], "tags[0]")
            check(type(raw.get("has_more")) is bool and r.has_more is True, "v3 tags has_more %r" % raw.get("has_more"))
            R("delete_repo_tag (copy)", lambda: client.delete_repo_tag(
                M.DeleteRepoTagRequest(namespace=tns, repository=trepo, tag=copy)), 204)
            ok("create_repo_tag + list_repository_tag (v3) + delete copy")

        R("delete_repo_tag", lambda: client.delete_repo_tag(
            M.DeleteRepoTagRequest(namespace=tns, repository=trepo, tag=tag)), 204)
        items, _ = list_tags("list_repository_tags (after delete)")
        check(tag not in [i.tag for i in items], "deleted tag %s still listed" % tag)
        E("show_repo_tag (deleted)", lambda: client.show_repo_tag(
            M.ShowRepoTagRequest(namespace=tns, repository=trepo, tag=tag)), (404,))
        E("delete_repo_tag (again)", lambda: client.delete_repo_tag(
            M.DeleteRepoTagRequest(namespace=tns, repository=trepo, tag=tag)), (404,))
        ok("delete_repo_tag %s:%s (+list, show and delete again -> 404)" % (repo_ref, tag))

    # -- deletes --
    e = E("delete_namespaces (not empty)", lambda: client.delete_namespaces(M.DeleteNamespacesRequest(namespace=NS)), (406, 409))
    ok("delete_namespaces while it holds repositories -> %d" % e.status_code)
    for repo in ("app1", "team$app", "viaquery"):
        R("delete_repo %s" % repo, lambda: client.delete_repo(M.DeleteRepoRequest(namespace=NS, repository=repo)), 204)
        ok("delete_repo %s" % repo)
    E("show_repository (deleted)", lambda: client.show_repository(
        M.ShowRepositoryRequest(namespace=NS, repository="app1")), (404,))
    E("delete_repo (again)", lambda: client.delete_repo(M.DeleteRepoRequest(namespace=NS, repository="team/app")), (404,))
    ok("delete_repo again / show deleted -> 404")
    items, _ = list_repos("list_repos_details (after deletes)", M.ListReposDetailsRequest(namespace=NS), 0)
    check(items == [], "repositories left: %r" % [i.name for i in items])
    R("delete_namespaces", lambda: client.delete_namespaces(M.DeleteNamespacesRequest(namespace=NS)), 204)
    ok("delete_namespaces")
    E("show_namespace (deleted)", lambda: client.show_namespace(M.ShowNamespaceRequest(namespace=NS)), (404,))
    r = R("list_namespaces (after delete)", lambda: client.list_namespaces(M.ListNamespacesRequest(filter="namespace::" + NS)), 200)
    check_model(M.ListNamespacesResponse, r, WIRE.raw_json())
    check(r.namespaces == [], "deleted namespace still listed: %r" % [n.name for n in r.namespaces])
    ok("show/list deleted namespace -> 404 / []")
    if not args.extended:
        print("note: extended calls (v3 lists, create_repo_tag) not run; pass --extended", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("endpoint")
    p.add_argument("ak")
    p.add_argument("sk")
    p.add_argument("pushed_repo", nargs="?")
    p.add_argument("--member", default="swrtest-member:swrtest-member")
    p.add_argument("--extended", action="store_true")
    p.add_argument("--skip", action="append", choices=["nsauth", "repoauth", "tags"])
    args = p.parse_args()
    try:
        run(args)
    except Fail as e:
        print("FAIL: %s" % e, file=sys.stderr)
        sys.exit(1)
    except sdk_exc.SdkException as e:
        print("FAIL: unexpected SDK exception: %s" % e, file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
    except Exception:
        print("FAIL: unexpected error", file=sys.stderr)
        traceback.print_exc()
        sys.exit(1)
    print("ok all SWR SDK calls", flush=True)


if __name__ == "__main__":
    main()
