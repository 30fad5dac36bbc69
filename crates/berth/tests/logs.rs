//! What an operator reads: berth's stderr, off a terminal, as text and as JSON lines.

mod support;

use std::time::Duration;

use support::*;

/// berth's log so far (its stderr, which the harness appends to `<data_dir>.log`).
fn log_of(berth: &Berth) -> String {
    std::fs::read_to_string(berth.data_dir.with_extension("log")).unwrap_or_default()
}

/// Waits for the log to have `n` access lines (they are written when the answer ends).
async fn access_lines(berth: &Berth, n: usize) -> Vec<serde_json::Value> {
    for _ in 0..100 {
        let lines: Vec<serde_json::Value> = log_of(berth)
            .lines()
            .map(|line| {
                serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
            })
            .filter(|line: &serde_json::Value| line["target"] == "berth::access")
            .collect();
        if lines.len() >= n {
            return lines;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {n} access lines in:\n{}", log_of(berth));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_lines_with_one_access_line_per_request() {
    let tmp = tempfile::tempdir().unwrap();
    let env = [
        ("BERTH__SERVER__LOG_FORMAT", "json"),
        ("BERTH__STORAGE__SECRET_ACCESS_KEY", "do-not-log-me"),
    ];
    let env: Vec<_> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let berth = Berth::start_with_env(&tmp.path().join("data"), &env);
    let client = http();

    let base = client
        .get(format!("{}/v2/", berth.url()))
        .header("x-request-id", "from-the-proxy-1")
        .send()
        .await
        .unwrap();
    assert_eq!(base.status(), 200);
    assert_eq!(header(&base, "x-request-id"), "from-the-proxy-1");
    let missing = client
        .get(format!("{}/v2/team/app/manifests/v1", berth.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let generated = header(&missing, "x-request-id");
    assert_eq!(generated.len(), 32, "{generated:?}");
    let body = missing.bytes().await.unwrap();

    let lines = access_lines(&berth, 2).await;
    let (first, second) = (&lines[0], &lines[1]);
    assert_eq!(first["level"], "INFO");
    assert_eq!(first["method"], "GET");
    assert_eq!(first["route"], "/v2/");
    assert_eq!(first["status"], 200);
    assert_eq!(first["request_id"], "from-the-proxy-1");
    assert!(first["duration_ms"].as_f64().is_some(), "{first}");
    assert_eq!(second["status"], 404);
    assert_eq!(second["bytes"], body.len());
    assert_eq!(second["request_id"], generated.as_str());
    // A template, never the raw path with the repository name in it.
    let route = second["route"].as_str().unwrap();
    assert!(
        route.starts_with("/v2/{") && !route.contains("team"),
        "{route}"
    );

    let log = log_of(&berth);
    assert!(!log.contains("do-not-log-me"), "{log}");
    assert!(!log.contains('\x1b'), "no colour codes in a file: {log}");
    let config: serde_json::Value = log
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .find(|line: &serde_json::Value| line["message"] == "effective configuration")
        .expect("the effective configuration is logged");
    let section = |name: &str| -> serde_json::Value {
        serde_json::from_str(config[name].as_str().expect("a section is a JSON object")).unwrap()
    };
    assert_eq!(section("server")["log_format"], "json");
    assert_eq!(section("storage")["secret_access_key"], "***");
    assert_eq!(section("storage")["type"], "fs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_without_colours_off_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let berth = Berth::start(&tmp.path().join("data"));
    let response = http()
        .get(format!("{}/v2/", berth.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = header(&response, "x-request-id");
    let mut log = String::new();
    for _ in 0..100 {
        log = log_of(&berth);
        if log.contains("berth::access") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!log.contains('\x1b'), "{log:?}");
    let access = log
        .lines()
        .find(|line| line.contains("berth::access"))
        .unwrap_or_else(|| panic!("no access line in:\n{log}"));
    for part in [
        "method=GET",
        "route=/v2/",
        "status=200",
        &format!("request_id={id}"),
    ] {
        assert!(access.contains(part), "{part} in {access}");
    }
    let config = log
        .lines()
        .find(|line| line.contains("effective configuration"))
        .expect("the effective configuration is logged");
    assert!(config.contains(r#""listen":"127.0.0.1:0""#), "{config}");
}
