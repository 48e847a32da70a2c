//! An event as it leaves for its downstream: the headers already through the
//! header rules, the exact verified bytes. Built once at ingest, with the real
//! peer; the queue stores it and restores it, and delivery sends it as is.

use bytes::Bytes;
use poem::http::{HeaderMap, HeaderValue};

use super::{Peer, outgoing_headers};
use crate::routes::Route;
use crate::signature::VerifiedBody;

/// What is sent to a route's downstream.
///
/// Only a [`VerifiedBody`] makes one, so unverified bytes can be neither
/// stored nor forwarded.
#[derive(Debug, Clone)]
pub struct Outbound {
    lane: String,
    headers: HeaderMap,
    request_id: HeaderValue,
    body: VerifiedBody,
}

impl Outbound {
    /// The event `body` of `route` received with `incoming` headers from
    /// `peer`: the headers go through the rules of [`outgoing_headers`] here,
    /// once.
    pub fn new(
        route: &Route,
        incoming: &HeaderMap,
        peer: Peer,
        request_id: &HeaderValue,
        body: &VerifiedBody,
    ) -> Self {
        Self {
            lane: route.name.clone(),
            headers: outgoing_headers(incoming, peer, request_id, &route.route_header),
            request_id: request_id.clone(),
            body: body.clone(),
        }
    }

    /// An event read back from the queue store, whose headers went through
    /// the rules before it was stored. Only for what the store holds: it is
    /// written only from an [`Outbound`], hence from a verified body.
    pub(crate) fn restore(
        lane: String,
        headers: HeaderMap,
        request_id: HeaderValue,
        body: Bytes,
    ) -> Self {
        Self {
            lane,
            headers,
            request_id,
            body: VerifiedBody::from_store(body),
        }
    }

    /// The queue it is stored in and delivered from: its destination's
    /// lane (the route's name for the `default` destination).
    pub fn lane(&self) -> &str {
        &self.lane
    }

    /// The headers sent, as they are.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The request id the event was received with.
    pub fn request_id(&self) -> &HeaderValue {
        &self.request_id
    }

    /// The exact bytes the source sent.
    pub fn body(&self) -> &VerifiedBody {
        &self.body
    }
}
