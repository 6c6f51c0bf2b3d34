//! The HTTP client given to the AWS SDK (S3, Route53 and the credential chain), so that
//! they connect like every other client: through the proxy in force ([`crate::proxy`]),
//! over rustls with the aws-lc-rs provider and the system's roots.

use std::sync::{Arc, OnceLock};

use aws_smithy_runtime_api::client::http::{
    HttpClient as SdkHttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::body::SdkBody;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::proxy::ProxyConnector;

/// An SDK HTTP client over [`ProxyConnector`]. Its connection pool is built on first use,
/// with the connect timeout the SDK asks for.
#[derive(Clone)]
pub struct ProxiedSdkClient {
    proxy: ProxyConnector,
    tls: Arc<rustls::ClientConfig>,
    connector: Arc<OnceLock<SharedHttpConnector>>,
}

impl std::fmt::Debug for ProxiedSdkClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ProxiedSdkClient")
    }
}

/// The SDK client for the proxy settings in force (`proxy::current()`).
pub fn sdk_http_client() -> Result<SharedHttpClient, String> {
    Ok(SharedHttpClient::new(ProxiedSdkClient::new(ProxyConnector::from_current()?)?))
}

impl ProxiedSdkClient {
    /// A client over `proxy` trusting the system's roots, as the SDK's default client would.
    pub fn new(proxy: ProxyConnector) -> Result<ProxiedSdkClient, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS set-up: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(ProxiedSdkClient { proxy, tls: Arc::new(tls), connector: Arc::new(OnceLock::new()) })
    }
}

impl SdkHttpClient for ProxiedSdkClient {
    fn http_connector(&self, settings: &HttpConnectorSettings, _: &RuntimeComponents) -> SharedHttpConnector {
        self.connector
            .get_or_init(|| {
                let mut proxy = self.proxy.clone();
                if let Some(timeout) = settings.connect_timeout() {
                    proxy = proxy.with_connect_timeout(timeout);
                }
                let https = hyper_rustls::HttpsConnectorBuilder::new()
                    .with_tls_config((*self.tls).clone())
                    .https_or_http()
                    .enable_http1()
                    .wrap_connector(proxy.clone());
                let client = Client::builder(TokioExecutor::new()).build(https);
                SharedHttpConnector::new(SdkConnector { client, proxy })
            })
            .clone()
    }
}

#[derive(Clone)]
struct SdkConnector {
    client: Client<HttpsConnector<ProxyConnector>, SdkBody>,
    proxy: ProxyConnector,
}

impl std::fmt::Debug for SdkConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SdkConnector")
    }
}

impl HttpConnector for SdkConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let client = self.client.clone();
        let proxy = self.proxy.clone();
        HttpConnectorFuture::new(async move {
            let mut request = request.try_into_http1x().map_err(|e| ConnectorError::other(e.into(), None))?;
            proxy.authorize(&mut request);
            let response = client
                .request(request)
                .await
                .map_err(|e| ConnectorError::io(crate::error_chain(&e).into()))?;
            HttpResponse::try_from(response.map(SdkBody::from_body_1_x))
                .map_err(|e| ConnectorError::other(e.into(), None))
        })
    }
}
