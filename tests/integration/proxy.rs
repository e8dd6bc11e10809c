//! HTTPS through a corporate network: a CA made here, a TLS front for the simulator signed by
//! it, and a loopback `CONNECT` proxy. The collector must trust the CA only when told to, go
//! through the proxy when `HTTPS_PROXY` says so, and go around it when `NO_PROXY` names the
//! host.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

use crate::harness::{Collector, T0, simulator, sorted_unique, visible};

/// The TLS front and the proxy, served from a thread of their own.
struct Network {
    /// `https://localhost:PORT`: the simulator behind TLS.
    base_url: String,
    proxy: SocketAddr,
    /// The head of every `CONNECT` the proxy received.
    connects: Arc<Mutex<Vec<String>>>,
    ca_pem: tempfile::NamedTempFile,
    _runtime: tokio::runtime::Runtime,
}

impl Network {
    fn start(upstream: SocketAddr) -> Network {
        let ca = CertifiedIssuer::self_signed(
            {
                let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
                p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
                p.distinguished_name
                    .push(DnType::CommonName, "zendesk-crm test CA");
                p
            },
            KeyPair::generate().unwrap(),
        )
        .unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        let ca_pem = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(ca_pem.path(), ca.pem()).unwrap();

        let tls = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));

        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (front, proxy) = runtime.block_on(async {
            (
                TcpListener::bind("127.0.0.1:0").await.unwrap(),
                TcpListener::bind("127.0.0.1:0").await.unwrap(),
            )
        });
        let front_port = front.local_addr().unwrap().port();
        let proxy_addr = proxy.local_addr().unwrap();
        runtime.spawn(async move {
            while let Ok((stream, _)) = front.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(stream).await else {
                        return;
                    };
                    let Ok(mut sim) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut sim).await;
                });
            }
        });
        let connects = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&connects);
        runtime.spawn(async move {
            while let Ok((stream, _)) = proxy.accept().await {
                tokio::spawn(tunnel(stream, Arc::clone(&seen)));
            }
        });
        Network {
            base_url: format!("https://localhost:{front_port}"),
            proxy: proxy_addr,
            connects,
            ca_pem,
            _runtime: runtime,
        }
    }

    fn connects(&self) -> Vec<String> {
        self.connects.lock().unwrap().clone()
    }
}

/// A minimal `CONNECT` proxy: records the request head, dials the target, splices.
async fn tunnel(mut client: TcpStream, seen: Arc<Mutex<Vec<String>>>) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 8192 || client.read(&mut byte).await.unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    seen.lock().unwrap().push(head.clone());
    let Some(target) = head
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("CONNECT "))
        .and_then(|l| l.split_whitespace().next())
    else {
        let _ = client
            .write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
            .await;
        return;
    };
    let Ok(mut upstream) = TcpStream::connect(target).await else {
        let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
        return;
    };
    if client
        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        .await
        .is_ok()
    {
        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
    }
}

fn collector(sim: &zendesk_crm_tests::Simulator) -> Collector {
    let mut c = Collector::new(sim);
    c.env("HTTP_RETRIES", 0);
    c
}

#[test]
fn https_to_a_private_ca_needs_its_bundle_and_then_collects_everything() {
    let sim = simulator();
    sim.add_tickets(1, 30, T0 - 1000);
    let net = Network::start(sim.addr());

    let untrusting = collector(&sim);
    let pass = untrusting.run_at(sim.now(), &["--base-url", &net.base_url]);
    assert_eq!(pass.code, 3, "{}", pass.output());
    assert_eq!(
        pass.tickets()["error"]["kind"],
        "transport",
        "{}",
        pass.output()
    );
    assert!(untrusting.objects().is_empty());

    let mut trusting = collector(&sim);
    trusting.env("ZENDESK_CA_BUNDLE", net.ca_pem.path().display());
    let pass = trusting.run_at(sim.now(), &["--base-url", &net.base_url]);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(sorted_unique(trusting.stored_tickets()), visible(&sim));
    assert!(net.connects().is_empty(), "no proxy was configured");
    let requests = sim.requests();
    assert!(!requests.is_empty());
    assert!(requests.iter().all(|r| r.header("host").is_some()));
}

#[test]
fn https_goes_through_the_connect_proxy_unless_no_proxy_names_the_host() {
    let sim = simulator();
    sim.add_tickets(1, 30, T0 - 1000);
    let net = Network::start(sim.addr());
    let proxy_url = format!("http://ops:proxy-secret-7@{}", net.proxy);

    let mut proxied = collector(&sim);
    proxied
        .env("ZENDESK_CA_BUNDLE", net.ca_pem.path().display())
        .env("HTTPS_PROXY", &proxy_url);
    let pass = proxied.run_at(sim.now(), &["--base-url", &net.base_url]);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(sorted_unique(proxied.stored_tickets()), visible(&sim));
    let connects = net.connects();
    let authority = net.base_url.trim_start_matches("https://");
    assert!(!connects.is_empty());
    for head in &connects {
        assert!(
            head.starts_with(&format!("CONNECT {authority} HTTP/1.1\r\n")),
            "{head}"
        );
        assert!(head.contains("Proxy-Authorization: Basic "), "{head}");
    }
    assert!(
        !pass.output().contains("proxy-secret-7"),
        "{}",
        pass.output()
    );

    let before = connects.len();
    let mut bypassing = collector(&sim);
    bypassing
        .env("ZENDESK_CA_BUNDLE", net.ca_pem.path().display())
        .env("HTTPS_PROXY", &proxy_url)
        .env("NO_PROXY", "example.com,localhost");
    let pass = bypassing.run_at(sim.now(), &["--base-url", &net.base_url]);
    assert_eq!(pass.code, 0, "{}", pass.output());
    assert_eq!(sorted_unique(bypassing.stored_tickets()), visible(&sim));
    assert_eq!(
        net.connects().len(),
        before,
        "NO_PROXY=localhost went through the proxy"
    );
}
