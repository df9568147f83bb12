//! The seam to the config center: read a document and watch it for the next change,
//! implemented on any [`Coordination`] in the config-center layout
//! (`/arbor/config/<env>/<app>/<name>`, the node's data is the document).
//!
//! SEAM: when `arbor-config-center` is on main, the path comes from its layout functions.

use std::future::Future;

use arbor_coord::{Change, CoordError, Coordination};

use crate::config::SourceSpec;

pub const CONFIG_ROOT: &str = "/arbor/config";

pub fn document_path(source: &SourceSpec) -> String {
    format!(
        "{CONFIG_ROOT}/{}/{}/{}",
        source.env, source.app, source.name
    )
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
        let source = SourceSpec {
            env: "prod".into(),
            app: "web".into(),
            name: "app.yaml".into(),
        };
        assert_eq!(document_path(&source), "/arbor/config/prod/web/app.yaml");
    }
}
