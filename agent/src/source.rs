//! The config-center side of the agent: read a document and watch it for the next change, on
//! any [`Coordination`], at the config center's path for it (`/arbor/config/<env>/<app>/<name>`,
//! the node's data is the document's bytes).

use std::future::Future;

use arbor_coord::{Change, CoordError, Coordination};

use crate::config::SourceSpec;

pub fn document_path(source: &SourceSpec) -> String {
    arbor_config_center::layout::config_path(&source.key)
}

pub trait ConfigSource: Send + Sync + 'static {
    /// The document's current content (`None` if it does not exist) and a one-time watch for
    /// its next change.
    fn watch_document(
        &self,
        source: &SourceSpec,
    ) -> impl Future<Output = Result<(Option<Vec<u8>>, Change), CoordError>> + Send;
}

impl<C: Coordination> ConfigSource for C {
    async fn watch_document(
        &self,
        source: &SourceSpec,
    ) -> Result<(Option<Vec<u8>>, Change), CoordError> {
        let (node, change) = self.watch_node(&document_path(source)).await?;
        Ok((node.map(|node| node.data), change))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_center_layout() {
        let source = SourceSpec::parse("prod", "web", "app.yaml").unwrap();
        assert_eq!(document_path(&source), "/arbor/config/prod/web/app.yaml");
    }
}
