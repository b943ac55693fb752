//! taskweave: production-grade Tokio concurrency patterns.
//!
//! The patterns are placeholders until their crates land.
#![cfg_attr(docsrs, feature(doc_cfg))]
