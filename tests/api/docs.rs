//! The OpenAPI spec and docs UI follow the live routes.

use openapiv3::{OpenAPI, Parameter, ReferenceOr};

use support::*;

async fn spec(app: &TestApp) -> (OpenAPI, String) {
    let text = app.get_text("/openapi.json").await;
    let spec: OpenAPI = serde_json::from_str(&text).expect("the spec is OpenAPI 3");
    (spec, text)
}

/// The body of a 200 answer at `path`.
async fn ok_text(app: &TestApp, path: &str) -> Option<String> {
    let response = app.client.get(app.url(path)).send().await.unwrap();
    if response.status() != 200 {
        return None;
    }
    Some(response.text().await.unwrap())
}

fn header_names(spec: &OpenAPI, path: &str) -> Vec<String> {
    parameters(spec, path)
        .into_iter()
        .filter(|(place, _, _)| *place == "header")
        .map(|(_, name, _)| name)
        .collect()
}

/// The parameters of `path`'s POST: where each goes, its name, whether it is required.
fn parameters(spec: &OpenAPI, path: &str) -> Vec<(&'static str, String, bool)> {
    let Some(ReferenceOr::Item(item)) = spec.paths.paths.get(path) else {
        panic!("{path} is not in the spec");
    };
    let post = item.post.as_ref().expect("a POST operation");
    post.parameters
        .iter()
        .filter_map(|p| match p {
            ReferenceOr::Item(Parameter::Header { parameter_data, .. }) => {
                Some(("header", parameter_data))
            }
            ReferenceOr::Item(Parameter::Query { parameter_data, .. }) => {
                Some(("query", parameter_data))
            }
            _ => None,
        })
        .map(|(place, data)| (place, data.name.clone(), data.required))
        .collect()
}

#[tokio::test]
async fn the_spec_is_openapi_3_and_lists_each_route_with_its_headers_and_responses() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/secret-topology"), "")).await;

    let (spec, text) = spec(&app).await;

    let headers = header_names(&spec, CHATWOOT_PATH);
    assert!(
        headers.contains(&"X-Chatwoot-Signature".to_string()),
        "{headers:?}"
    );
    assert!(
        headers.contains(&"X-Chatwoot-Timestamp".to_string()),
        "{headers:?}"
    );
    let Some(ReferenceOr::Item(item)) = spec.paths.paths.get(CHATWOOT_PATH) else {
        unreachable!()
    };
    let responses = &item.post.as_ref().unwrap().responses.responses;
    for code in [200, 401, 404, 405, 413, 500, 503] {
        assert!(
            responses.contains_key(&openapiv3::StatusCode::Code(code)),
            "no {code}"
        );
    }
    for own in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/admin/status",
        "/admin/reload",
    ] {
        assert!(spec.paths.paths.contains_key(own), "no {own}");
    }
    assert!(!text.contains(SECRET) && !text.contains("old-secret"));
    assert!(!text.contains("secret-topology") && !text.contains(&downstream.addr.to_string()));
}

#[tokio::test]
async fn the_yaml_spec_says_the_same() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;

    let text = app.get_text("/openapi.yaml").await;

    let spec: OpenAPI = serde_yaml::from_str(&text).expect("the YAML spec is OpenAPI 3");
    assert!(spec.paths.paths.contains_key(CHATWOOT_PATH));
}

#[tokio::test]
async fn the_spec_and_the_docs_ui_follow_a_reload_that_adds_a_route() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;
    let added = format!(
        "{}\n[routes.github]\npath = \"/hooks/github\"\ndownstream = \"{}\"\n[routes.github.signature]\nscheme = \"github\"\nsecret = \"gh\"\n",
        chatwoot_config(&downstream.url("/hook"), ""),
        downstream.url("/gh")
    );

    let tmp = app.config_path.with_extension("new");
    std::fs::write(&tmp, added).unwrap();
    std::fs::rename(&tmp, &app.config_path).unwrap();
    // Polled faster than the documents' rate per address: a 429 is "not yet".
    eventually("the spec lists the new route", || async {
        let spec = ok_text(&app, "/openapi.json").await;
        spec.and_then(|text| serde_json::from_str::<OpenAPI>(&text).ok())
            .is_some_and(|spec| spec.paths.paths.contains_key("/hooks/github"))
    })
    .await;
    // The UI is embedded (SwaggerUIBundle), not fetched from a CDN.
    eventually("the docs page shows both routes", || async {
        ok_text(&app, "/docs").await.is_some_and(|docs| {
            docs.contains("/hooks/github")
                && docs.contains(CHATWOOT_PATH)
                && docs.contains("SwaggerUIBundle")
        })
    })
    .await;
}

#[tokio::test]
async fn a_token_route_documents_its_header_or_query_parameter_as_required_without_a_value() {
    let downstream = Downstream::start().await;
    let token_route = |name: &str, place: &str| {
        format!(
            "[routes.{name}]\npath = \"/{name}\"\ndownstream = \"{}\"\n\
             signature = {{ scheme = \"token\", {place}, secret = \"shared-token-value\" }}\n",
            downstream.url("/hook")
        )
    };
    let config = [
        chatwoot_config(&downstream.url("/hook"), ""),
        token_route("in-header", "header = \"X-Webhook-Token\""),
        token_route("in-query", "query = \"token\""),
    ]
    .concat();
    let app = spawn_app(&config).await;

    let (spec, text) = spec(&app).await;

    let header = ("header", "x-webhook-token".to_string(), true);
    assert_eq!(parameters(&spec, "/in-header"), [header]);
    assert_eq!(
        parameters(&spec, "/in-query"),
        [("query", "token".to_string(), true)]
    );
    assert!(!text.contains("shared-token-value"));
    app.stop().await;
}

#[tokio::test]
async fn the_public_documents_are_rate_limited_per_client_address() {
    let downstream = Downstream::start().await;
    let app = spawn_app(&chatwoot_config(&downstream.url("/hook"), "")).await;
    let get = |client: reqwest::Client, path: &'static str| {
        let url = app.url(path);
        async move { client.get(url).send().await.unwrap() }
    };

    let mut statuses = Vec::new();
    for path in [
        "/docs",
        "/openapi.json",
        "/openapi.yaml",
        "/docs",
        "/docs",
        "/docs",
    ] {
        statuses.push(get(app.client.clone(), path).await.status().as_u16());
    }
    let elsewhere = reqwest::Client::builder()
        .local_address(std::net::IpAddr::from([127, 0, 0, 2]))
        .build()
        .unwrap();
    let other_address = get(elsewhere, "/docs").await;

    // Five a second: the sixth within the same second is refused (a
    // second boundary in between lets it through, so allow one more).
    assert!(statuses[..5].iter().all(|s| *s == 200), "{statuses:?}");
    let refused = get(app.client.clone(), "/docs").await;
    assert!(
        statuses[5] == 429 || refused.status() == 429,
        "{statuses:?}"
    );
    assert_eq!(other_address.status(), 200);
}
