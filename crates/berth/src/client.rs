//! The client side of the CLI: talks to a running berth over HTTP and prints tables for
//! people or JSON for scripts.

use anyhow::{Context, bail};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

use crate::Output;

const ACCEPT_MANIFESTS: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json";

pub struct Client {
    http: reqwest::Client,
    base: String,
    output: Output,
    /// HTTP Basic: a user and its password or personal access token.
    login: Option<(String, String)>,
}

impl Client {
    pub fn new(
        server: &str,
        output: Output,
        login: Option<(String, String)>,
    ) -> anyhow::Result<Client> {
        Ok(Client {
            http: reqwest::Client::builder().build()?,
            base: server.trim_end_matches('/').to_owned(),
            output,
            login,
        })
    }

    pub fn output(&self) -> Output {
        self.output
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    /// The user the client logs in as, if any.
    pub fn user(&self) -> Option<&str> {
        self.login.as_ref().map(|(user, _)| user.as_str())
    }

    /// A request to `path` on the server, with the login if one was given.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.request(method, format!("{}{path}", self.base));
        match &self.login {
            Some((user, secret)) => request.basic_auth(user, Some(secret)),
            None => request,
        }
    }

    /// A native API call (`/api/v1/...`): its JSON answer (null for 204), or an error with
    /// the server's message from the native error shape.
    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        self.answer(request).await
    }

    /// Sends a prepared API request: its JSON answer (null when empty), or an error with the
    /// server's message.
    pub async fn answer(&self, request: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let response = request
            .send()
            .await
            .with_context(|| format!("contacting {}", self.base))?;
        Self::answer_of(response).await
    }

    /// The JSON answer of a response, or an error with the server's message.
    pub async fn answer_of(response: reqwest::Response) -> anyhow::Result<Value> {
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if status.is_success() {
            if text.is_empty() {
                return Ok(Value::Null);
            }
            return serde_json::from_str(&text).context("the server's answer is not JSON");
        }
        let error = serde_json::from_str::<Value>(&text).unwrap_or(Value::Null);
        let error = &error["error"];
        let message = error["message"]
            .as_str()
            .or(error["details"].as_str())
            .unwrap_or("no details");
        let mut detail = String::new();
        if let Some(code) = error["code"].as_str() {
            detail = match error["target"].as_str() {
                Some(target) => format!(" ({code}: {target})"),
                None => format!(" ({code})"),
            };
        }
        if status == reqwest::StatusCode::UNAUTHORIZED {
            bail!(
                "server answered {status}: {message}{detail}; log in with `berth login` (or \
                 --user and --token)"
            );
        }
        bail!("server answered {status}: {message}{detail}")
    }

    async fn get(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        let response = self
            .request(reqwest::Method::GET, path)
            .header("accept", ACCEPT_MANIFESTS)
            .send()
            .await
            .with_context(|| format!("contacting {}", self.base))?;
        check(response).await
    }

    /// Follows `Link: <...>; rel="next"` pages, collecting `key` from each.
    async fn paged(&self, first: &str, key: &str) -> anyhow::Result<Vec<String>> {
        let mut items = Vec::new();
        let mut next = Some(first.to_owned());
        while let Some(path) = next.take() {
            let response = self.get(&path).await?;
            next = response
                .headers()
                .get("link")
                .and_then(|l| l.to_str().ok())
                .and_then(|l| l.split_once('<'))
                .and_then(|(_, rest)| rest.split_once('>'))
                .map(|(url, _)| url.to_owned());
            let body: Value = response.json().await?;
            if let Some(list) = body.get(key).and_then(Value::as_array) {
                items.extend(list.iter().filter_map(|v| v.as_str().map(str::to_owned)));
            }
        }
        Ok(items)
    }

    pub async fn catalog(&self) -> anyhow::Result<()> {
        let repositories = self.paged("/v2/_catalog", "repositories").await?;
        self.print_list("REPOSITORY", "repositories", &repositories)
    }

    pub async fn tags(&self, repository: &str) -> anyhow::Result<()> {
        let tags = self
            .paged(&format!("/v2/{repository}/tags/list"), "tags")
            .await?;
        self.print_list("TAG", "tags", &tags)
    }

    pub async fn manifest(&self, repository: &str, reference: &str) -> anyhow::Result<()> {
        let response = self
            .get(&format!("/v2/{repository}/manifests/{reference}"))
            .await?;
        let digest = header(&response, "docker-content-digest");
        let media_type = header(&response, "content-type");
        let body: Value = response.json().await?;
        match self.output {
            Output::Json => println!("{}", serde_json::to_string_pretty(&body)?),
            Output::Table => {
                println!("DIGEST      {digest}\nMEDIA TYPE  {media_type}");
                let entries = body
                    .get("layers")
                    .or_else(|| body.get("manifests"))
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                let rows: Vec<[String; 3]> = entries
                    .iter()
                    .map(|e| {
                        [
                            e["digest"].as_str().unwrap_or("").to_owned(),
                            e["size"].to_string(),
                            e["mediaType"].as_str().unwrap_or("").to_owned(),
                        ]
                    })
                    .collect();
                print_table(["DIGEST", "SIZE", "MEDIA TYPE"], &rows);
            }
        }
        Ok(())
    }

    pub async fn delete(&self, repository: &str, reference: &str) -> anyhow::Result<()> {
        let response = self
            .request(
                reqwest::Method::DELETE,
                &format!("/v2/{repository}/manifests/{reference}"),
            )
            .send()
            .await
            .with_context(|| format!("contacting {}", self.base))?;
        check(response).await?;
        match self.output {
            Output::Json => println!("{}", serde_json::json!({ "deleted": reference })),
            Output::Table => println!("deleted {repository}:{reference}"),
        }
        Ok(())
    }

    fn print_list(&self, column: &str, key: &str, items: &[String]) -> anyhow::Result<()> {
        match self.output {
            Output::Json => println!("{}", serde_json::json!({ key: items })),
            Output::Table => {
                let rows: Vec<[String; 1]> = items.iter().map(|i| [i.clone()]).collect();
                print_table([column], &rows);
            }
        }
        Ok(())
    }
}

/// What a path segment may hold as it is; everything else is percent-encoded.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// One path segment, encoded.
pub fn path_segment(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// A repository name in a path: its slashes stay slashes (the native API reads the name up
/// to the `/-/` that ends it), each component encoded.
pub fn repo_path(name: &str) -> String {
    name.split('/')
        .map(path_segment)
        .collect::<Vec<_>>()
        .join("/")
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// Turns an error response into an error carrying the server's message.
async fn check(response: reqwest::Response) -> anyhow::Result<reqwest::Response> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let message = body["errors"][0]["message"]
        .as_str()
        .or_else(|| body["message"].as_str())
        .unwrap_or("no details")
        .to_owned();
    bail!("server answered {status}: {message}")
}

pub fn print_table<const N: usize>(headers: [&str; N], rows: &[[String; N]]) {
    let mut widths = headers.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.len());
        }
    }
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}
