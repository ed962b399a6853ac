use std::net::SocketAddr;

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("cf-sim could not bind {addr}: {source}; pick another port or free this one")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("cf-sim could not read its bound address: {0}")]
    LocalAddr(#[source] std::io::Error),
}
