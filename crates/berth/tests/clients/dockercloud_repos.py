#!/usr/bin/env python2.7
"""Drives berth's Docker Cloud external-repository API (/api/repo/v1/[namespace/]repository/) with
Docker's own Python library, python-dockercloud 1.0.12 (Python 2.7; see .ci/dockercloud.sh).

Usage: dockercloud_repos.py UPSTREAM_REPO_NAME USERNAME PASSWORD [--extra N] [--open-upstream]
                           [--step-timeout S]

  UPSTREAM_REPO_NAME  a repository on a real upstream registry, host[:port]/path, e.g.
                      127.0.0.1:5001/u/img (the harness starts that registry)
  USERNAME PASSWORD   credentials the upstream accepts; PASSWORD + "-wrong" must be refused
  --extra N           also register N more repositories (UPSTREAM_REPO_NAME-p1 ... -pN) and check
                      that Repository.list() pages through all of them by meta.next (use N above
                      berth's default page size), then remove them
  --open-upstream     the upstream checks no credentials: leave out the wrong-password steps
                      (each left-out step is printed as `skip <step>`, never silent)
  --step-timeout S    fail a step that takes longer than S seconds (default 60)

Environment (read by the library when it is imported):
  DOCKERCLOUD_REST_HOST  berth's URL, e.g. http://127.0.0.1:5000 (required: the library's default is
                         Docker's old SaaS, and this script never talks to anything but berth)
  DOCKERCLOUD_USER, DOCKERCLOUD_APIKEY  berth credentials (sent as HTTP Basic)
  DOCKERCLOUD_NAMESPACE  optional; with it every path is /api/repo/v1/<namespace>/repository/...
Run it with HOME pointed at an empty directory: the library reads ~/.docker/config.json at import.

Steps, each printed as `ok <step>` on stdout: list, meta, auth-wrong-apikey,
register-wrong-password, fetch-missing, register, register-duplicate, fetch, registry,
update-wrong-password, update, list-filter-name, list-filter-registry, [paging], delete,
fetch-deleted. On the first failure: `FAIL <step>: message` on stderr and exit status 1 (2 for
usage errors). The registered repository is removed at the end, and on failure too when it can be.
"""
from __future__ import print_function

import base64
import os
import signal
import sys
import traceback

USAGE = __doc__.split("\n\n")[1]


class Fail(Exception):
    pass


STEP = ["setup"]
# Each step gets this long (SIGALRM). Repository.list() re-asks for ever while meta.next is set
# and the page does not move on (offset ignored, meta.limit 0): that must fail, not hang.
STEP_TIMEOUT = 60


def on_alarm(signum, frame):
    raise Fail("no answer within %d s (a list that never ends: meta.next set but ?offset ignored, "
               "or meta.limit 0?)" % STEP_TIMEOUT)


def step(name):
    STEP[0] = name
    signal.alarm(STEP_TIMEOUT)


def ok(extra=""):
    print("ok %s%s" % (STEP[0], (" " + extra) if extra else ""))
    sys.stdout.flush()


def skip(name, why):
    print("skip %s (%s)" % (name, why))
    sys.stdout.flush()


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def usage(msg):
    sys.stderr.write("dockercloud_repos.py: %s\n%s\n" % (msg, USAGE))
    sys.exit(2)


def parse_args(argv):
    global STEP_TIMEOUT
    pos, extra, open_upstream = [], 0, False
    i = 0
    while i < len(argv):
        a = argv[i]
        if a in ("--extra", "--step-timeout"):
            if i + 1 >= len(argv) or not argv[i + 1].isdigit():
                usage("%s needs a number" % a)
            if a == "--extra":
                extra = int(argv[i + 1])
            else:
                STEP_TIMEOUT = max(1, int(argv[i + 1]))
            i += 2
            continue
        if a == "--open-upstream":
            open_upstream = True
        elif a.startswith("--"):
            usage("unknown option %s" % a)
        else:
            pos.append(a)
        i += 1
    if len(pos) != 3:
        usage("expected UPSTREAM_REPO_NAME USERNAME PASSWORD")
    return pos[0], pos[1], pos[2], extra, open_upstream


NAME, USER, PASSWORD, EXTRA, OPEN_UPSTREAM = parse_args(sys.argv[1:])
for var in ("DOCKERCLOUD_REST_HOST", "DOCKERCLOUD_USER", "DOCKERCLOUD_APIKEY"):
    if not os.environ.get(var):
        usage("%s is not set" % var)
if os.environ.get("DOCKERCLOUD_AUTH"):
    usage("DOCKERCLOUD_AUTH is set: it would replace the Basic credentials of DOCKERCLOUD_USER/APIKEY")
if "/" not in NAME:
    usage("UPSTREAM_REPO_NAME must be host[:port]/path, got %r" % NAME)

import dockercloud  # noqa: E402  (reads the environment when imported)
from dockercloud.api.http import send_request  # noqa: E402

NS = os.environ.get("DOCKERCLOUD_NAMESPACE") or ""
HOST = NAME.split("/", 1)[0]
PREFIX = "/api/repo/v1/"
WRONG = PASSWORD + "-wrong"


def list_path():
    return "api/repo/v1/%srepository/" % (NS + "/" if NS else "")


def expect_api_error(fn, status, what):
    """Runs fn, which must raise the library's ApiError for HTTP `status` (an int, or a tuple of
    acceptable ones); returns the message. An AuthError (the library's 401) never passes unless
    401 is what was asked for."""
    statuses = status if isinstance(status, tuple) else (status,)
    try:
        fn()
    except dockercloud.AuthError as e:
        check(401 in statuses, "%s: got AuthError (HTTP 401, read by the library as berth's own login "
                               "failing), expected HTTP %s: %s" % (what, "/".join(map(str, statuses)), e))
        return str(e)
    except dockercloud.ApiError as e:
        msg = str(e)
        check(any(msg.startswith("Status %d " % s) for s in statuses),
              "%s: expected HTTP %s, got: %s" % (what, "/".join(map(str, statuses)), msg))
        return msg
    raise Fail("%s: succeeded, expected HTTP %s" % (what, "/".join(map(str, statuses))))


def check_repo(repo, name, what):
    """The attributes Docker Cloud documents, with the exact shapes the clients rely on."""
    attrs = repo.get_all_attributes()
    for key in ("name", "registry", "resource_uri", "in_use"):
        check(key in attrs, "%s: no %r in %r" % (what, key, sorted(attrs)))
    check(repo.name == name, "%s: name is %r, expected %r" % (what, repo.name, name))
    check(repo.in_use is False, "%s: in_use is %r, expected false (a JSON boolean)" % (what, repo.in_use))
    ns_part = (NS + "/") if NS else ""
    uri = repo.resource_uri
    check(isinstance(uri, basestring) and uri.startswith(PREFIX) and  # noqa: F821 (py2)
          uri.endswith("/repository/%s/" % name),
          "%s: resource_uri %r is not /api/repo/v1/[namespace/]repository/%s/" % (what, uri, name))
    if NS:
        check(uri == "%s%srepository/%s/" % (PREFIX, ns_part, name),
              "%s: resource_uri %r is not in namespace %s" % (what, uri, NS))
    reg = repo.registry
    check(isinstance(reg, basestring) and reg.startswith(PREFIX) and  # noqa: F821 (py2)
          reg.endswith("/registry/%s/" % HOST),
          "%s: registry %r is not /api/repo/v1/[namespace/]registry/%s/" % (what, reg, HOST))
    if NS:
        check(reg == "%s%sregistry/%s/" % (PREFIX, ns_part, HOST),
              "%s: registry %r is not in namespace %s" % (what, reg, NS))
    # Both URIs name the same namespace (berth may spell the caller's own one out).
    check(uri[:-len("repository/%s/" % name)] == reg[:-len("registry/%s/" % HOST)],
          "%s: resource_uri %r and registry %r are in different namespaces" % (what, uri, reg))
    # The library sends PATCH and DELETE to resource_uri: it has to be kept exactly as it came.
    check(repo._resource_uri == uri, "%s: the library did not keep resource_uri" % what)
    return attrs


def names(repos):
    return [r.name for r in repos]


def main():
    created = []  # names registered by this run, removed in the end
    signal.signal(signal.SIGALRM, on_alarm)

    try:
        step("list")
        before = dockercloud.Repository.list()
        check(NAME not in names(before),
              "%s is already registered (left over from an earlier run?): %r" % (NAME, names(before)))
        ok("(%d registered)" % len(before))

        step("meta")
        body = send_request("GET", list_path(), params={"limit": 1})
        check(isinstance(body, dict) and isinstance(body.get("objects"), list) and
              isinstance(body.get("meta"), dict),
              "the list is not {\"meta\": {...}, \"objects\": [...]}: %r" % (body,))
        meta = body["meta"]
        for key in ("limit", "offset", "next", "previous", "total_count"):
            check(key in meta, "meta has no %r: %r" % (key, meta))
        for key in ("limit", "offset", "total_count"):
            check(isinstance(meta[key], int) and not isinstance(meta[key], bool),
                  "meta.%s is %r, expected an integer" % (key, meta[key]))
        # The library re-asks with offset = meta.offset + meta.limit while meta.next is truthy:
        # a limit of 0 with a next would loop for ever.
        check(meta["limit"] == 1, "?limit=1 answered with meta.limit %r" % meta["limit"])
        check(meta["offset"] == 0, "meta.offset is %r without ?offset" % meta["offset"])
        check(len(body["objects"]) <= 1, "?limit=1 answered %d objects" % len(body["objects"]))
        check(meta["total_count"] == len(before),
              "meta.total_count %r, the list had %d" % (meta["total_count"], len(before)))
        check(bool(meta["next"]) == (meta["total_count"] > 1),
              "meta.next %r with total_count %r and limit 1" % (meta["next"], meta["total_count"]))
        check(meta["previous"] is None, "meta.previous %r on the first page" % meta["previous"])
        ok()

        step("auth-wrong-apikey")
        saved = dockercloud.basic_auth
        dockercloud.basic_auth = base64.b64encode("%s:%s" % (os.environ["DOCKERCLOUD_USER"], "not-the-key"))
        try:
            expect_api_error(lambda: dockercloud.Repository.list(), 401, "list with a wrong API key")
        finally:
            dockercloud.basic_auth = saved
        ok()

        if OPEN_UPSTREAM:
            skip("register-wrong-password", "--open-upstream")
        else:
            step("register-wrong-password")
            bad = dockercloud.Repository.create(name=NAME, username=USER, password=WRONG)
            msg = expect_api_error(bad.save, 400, "register with a wrong upstream password")
            check(WRONG not in msg, "the error echoes the password: %s" % msg)
            ok()

        step("fetch-missing")
        expect_api_error(lambda: dockercloud.Repository.fetch(NAME), 404, "fetch of an unregistered name")
        ok()

        step("register")
        repo = dockercloud.Repository.create(name=NAME, username=USER, password=PASSWORD)
        check(repo.save() is True, "save() of a new repository returned False")
        created.append(NAME)
        check_repo(repo, NAME, "the registered object")
        check(not repo.is_dirty, "the object is still dirty after save()")
        registered = repo.resource_uri
        ok(registered)

        step("register-duplicate")
        dup = dockercloud.Repository.create(name=NAME, username=USER, password=PASSWORD)
        expect_api_error(dup.save, (400, 409), "a second register of the same name")
        ok()

        step("fetch")
        got = dockercloud.Repository.fetch(NAME)
        attrs = check_repo(got, NAME, "the fetched object")
        check(got.resource_uri == registered,
              "fetch gave resource_uri %r, register gave %r" % (got.resource_uri, registered))
        check(got.registry == repo.registry, "fetch gave registry %r, register %r" % (got.registry, repo.registry))
        # A fetched object has exactly the server's keys (plus the library's dockercloud_action_uri).
        check("password" not in attrs, "the API returned the password")
        ok()

        step("registry")
        reg = send_request("GET", got.registry)
        check(isinstance(reg, dict), "GET %s did not answer an object: %r" % (got.registry, reg))
        if "resource_uri" in reg:
            check(reg["resource_uri"] == got.registry,
                  "the registry's resource_uri %r is not %r" % (reg["resource_uri"], got.registry))
        check(PASSWORD not in repr(reg) and WRONG not in repr(reg), "the registry object holds a password")
        ok()

        if OPEN_UPSTREAM:
            skip("update-wrong-password", "--open-upstream")
        else:
            step("update-wrong-password")
            upd = dockercloud.Repository.fetch(NAME)
            upd.username = USER
            upd.password = WRONG
            expect_api_error(upd.save, 400, "update with a wrong upstream password")
            ok()

        step("update")
        upd = dockercloud.Repository.fetch(NAME)
        upd.username = USER
        upd.password = PASSWORD
        check(upd.is_dirty, "setting credentials did not mark the object dirty")
        check(upd.save() is True, "save() of new credentials returned False")
        check_repo(upd, NAME, "the updated object")
        check(upd.resource_uri == registered, "update moved resource_uri to %r" % upd.resource_uri)
        ok()

        step("list-filter-name")
        hits = dockercloud.Repository.list(name=NAME)
        check(names(hits) == [NAME], "list(name=%r) gave %r" % (NAME, names(hits)))
        check_repo(hits[0], NAME, "the listed object")
        check(hits[0].resource_uri == registered, "list gave resource_uri %r" % hits[0].resource_uri)
        none = dockercloud.Repository.list(name=NAME + "-not-registered")
        check(names(none) == [], "list(name=<unregistered>) gave %r" % names(none))
        ok()

        step("list-filter-registry")
        hits = dockercloud.Repository.list(registry=got.registry)
        check(NAME in names(hits), "list(registry=%r) gave %r" % (got.registry, names(hits)))
        for r in hits:
            check(r.registry == got.registry, "list(registry=...) gave %s of %s" % (r.name, r.registry))
        other = got.registry.replace("/registry/%s/" % HOST, "/registry/not-registered.invalid/")
        hits = dockercloud.Repository.list(registry=other)
        check(NAME not in names(hits), "list(registry=%r) gave %r" % (other, names(hits)))
        ok()

        if EXTRA:
            step("paging")
            extra = ["%s-p%d" % (NAME, i) for i in range(1, EXTRA + 1)]
            for n in extra:
                r = dockercloud.Repository.create(name=n, username=USER, password=PASSWORD)
                check(r.save() is True, "register %s returned False" % n)
                created.append(n)
            body = send_request("GET", list_path())
            page = body["meta"]["limit"]
            total = body["meta"]["total_count"]
            check(total == len(before) + 1 + EXTRA,
                  "total_count %r, expected %d" % (total, len(before) + 1 + EXTRA))
            listed = names(dockercloud.Repository.list())
            check(len(listed) == total and len(set(listed)) == total,
                  "Repository.list() gave %d names (%d distinct), total_count is %d"
                  % (len(listed), len(set(listed)), total))
            for n in [NAME] + extra:
                check(n in listed, "%s missing from Repository.list()" % n)
            capped = dockercloud.Repository.list(limit=2)
            check(len(capped) == 2, "Repository.list(limit=2) gave %d" % len(capped))
            for n in extra:
                check(dockercloud.Repository.fetch(n).delete() is True, "delete %s returned False" % n)
                created.remove(n)
            ok("(%d listed, page size %d%s)" % (total, page, "" if total > page else
                                                 ": ONE PAGE ONLY, meta.next never followed"))

        step("delete")
        gone = dockercloud.Repository.fetch(NAME)
        check(gone.delete() is True, "delete() returned False")
        check(gone._resource_uri is None, "the library kept resource_uri after delete")
        created.remove(NAME)
        ok()

        step("fetch-deleted")
        expect_api_error(lambda: dockercloud.Repository.fetch(NAME), 404, "fetch after delete")
        check(names(dockercloud.Repository.list(name=NAME)) == [], "list(name=...) still has it after delete")
        check(sorted(names(dockercloud.Repository.list())) == sorted(names(before)),
              "the list after delete differs from the list before")
        ok()
    except Fail as e:
        sys.stderr.write("FAIL %s: %s\n" % (STEP[0], e))
        return cleanup(created, 1)
    except Exception as e:  # the library's own exceptions, a ValueError on a non-JSON body, ...
        sys.stderr.write("FAIL %s: %s: %s\n%s" % (STEP[0], type(e).__name__, e, traceback.format_exc()))
        return cleanup(created, 1)
    signal.alarm(0)
    print("all steps passed")
    return 0


def cleanup(created, status):
    signal.alarm(STEP_TIMEOUT)
    for n in list(created):
        try:
            dockercloud.Repository.fetch(n).delete()
            sys.stderr.write("cleanup: removed %s\n" % n)
        except Exception as e:
            sys.stderr.write("cleanup: could not remove %s: %s\n" % (n, e))
    return status


if __name__ == "__main__":
    sys.exit(main())
