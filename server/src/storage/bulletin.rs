//! Messages between the server nodes that share one storage: what one node's live event
//! stream says (a job changed, a reminder fired, a device was revoked) reaches the phones and
//! consoles connected to every other node.

/// A channel from this node to the others sharing its storage.
///
/// Delivery is best effort and at most once: a node whose connection to the database is being
/// re-established misses what is posted meanwhile. That is safe because a live event is only a
/// nudge (phones and consoles that miss one see the change at their next sync or refresh);
/// nothing is stored through it.
pub trait Bulletin: Send + Sync {
    /// Sends `message` to every other node, in the order posted. Never blocks.
    fn post(&self, message: String);
    /// Hands each message other nodes post to `deliver`, on a thread of its own, until the
    /// storage is dropped. This node's own messages are not handed back.
    fn listen(&self, deliver: Box<dyn Fn(&str) + Send>);
}
