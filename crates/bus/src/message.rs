//! What the bus needs to know about a message, and how subscribers select messages.

use std::sync::Arc;

/// A message the bus can carry.
///
/// The bus never looks inside a payload: it routes on these three strings only, so the
/// `events` crate's envelope (or any other type) can travel on it. Messages are cloned once
/// per matching subscriber and once per delivery attempt, so they should be cheap to clone
/// (an `Arc` around the envelope, for instance; `Arc<T>` implements `Message` whenever `T`
/// does).
pub trait Message: Clone + Send + Sync + 'static {
    /// Stable unique id: the same on every retry and replay, so consumers can de-duplicate.
    fn id(&self) -> &str;
    /// Event type, e.g. `alice.asset.discovered.v1`.
    fn type_name(&self) -> &str;
    /// Category: `asset`, `workflow`, `creative`, or another name.
    fn category(&self) -> &str;
    /// Which of `shards` lanes the message belongs to (below `shards`), for subscribers that
    /// run as several shards ([`crate::Shard`]): messages of one key (an asset) must always
    /// map to the same lane so they are handled in order. Every message maps to lane 0
    /// unless the type says otherwise.
    fn shard(&self, shards: usize) -> usize {
        let _ = shards;
        0
    }
}

impl<T: Message> Message for Arc<T> {
    fn id(&self) -> &str {
        (**self).id()
    }

    fn type_name(&self) -> &str {
        (**self).type_name()
    }

    fn category(&self) -> &str {
        (**self).category()
    }

    fn shard(&self, shards: usize) -> usize {
        (**self).shard(shards)
    }
}

/// Which messages a subscriber or observer receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Filter {
    /// Every message.
    All,
    /// Messages whose [`Message::type_name`] is one of these.
    Types(Vec<String>),
    /// Messages whose [`Message::category`] is one of these.
    Categories(Vec<String>),
}

impl Filter {
    /// A filter matching any of the given event types.
    pub fn types<I, S>(types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Filter::Types(types.into_iter().map(Into::into).collect())
    }

    /// A filter matching any of the given categories.
    pub fn categories<I, S>(categories: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Filter::Categories(categories.into_iter().map(Into::into).collect())
    }

    /// Whether `message` passes this filter.
    pub fn matches<M: Message>(&self, message: &M) -> bool {
        match self {
            Filter::All => true,
            Filter::Types(types) => {
                let name = message.type_name();
                types.iter().any(|t| t == name)
            }
            Filter::Categories(categories) => {
                let category = message.category();
                categories.iter().any(|c| c == category)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone)]
    struct Probe {
        ty: &'static str,
        cat: &'static str,
    }

    impl Message for Probe {
        fn id(&self) -> &str {
            "probe"
        }
        fn type_name(&self) -> &str {
            self.ty
        }
        fn category(&self) -> &str {
            self.cat
        }
    }

    #[test]
    fn filters_select_by_type_category_or_all() {
        let discovered = Probe {
            ty: "alice.asset.discovered.v1",
            cat: "asset",
        };
        let project = Probe {
            ty: "alice.creative.project_created.v1",
            cat: "creative",
        };

        assert!(Filter::All.matches(&discovered));
        assert!(Filter::All.matches(&project));

        let by_type = Filter::types(["alice.asset.discovered.v1"]);
        assert!(by_type.matches(&discovered));
        assert!(!by_type.matches(&project));

        let by_category = Filter::categories(["creative", "workflow"]);
        assert!(!by_category.matches(&discovered));
        assert!(by_category.matches(&project));

        assert!(!Filter::Types(Vec::new()).matches(&discovered));
        assert!(Arc::new(discovered).type_name() == "alice.asset.discovered.v1");
    }
}
