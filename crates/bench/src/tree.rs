//! Creating and deleting a run's subtree with pipelined requests (setup and cleanup).

use arbor_proto::records::{DeleteRequest, GetChildrenRequest};
use arbor_proto::{CreateMode, ErrorCode, OpCode, Request, Response};

use crate::client::{Client, PendingReply};
use crate::error::BenchError;
use crate::workload::create;

/// Requests in flight at once during setup and cleanup (in total, when several sessions share
/// the work: setup loads a server no more than one pipelined session always did; 4 x 1000
/// creates through the followers of a debug-build ensemble made forwarded writes time out).
pub const WINDOW: usize = 1000;

/// Sends `requests` in windows of `window` and passes each reply, in order, to `check`.
async fn pipelined<F>(
    client: &Client,
    requests: Vec<Request>,
    window: usize,
    mut check: F,
) -> Result<(), BenchError>
where
    F: FnMut(&Request, crate::client::Reply) -> Result<(), BenchError>,
{
    for chunk in requests.chunks(window.max(1)) {
        let pending: Vec<PendingReply> = chunk
            .iter()
            .map(|request| client.submit(request.clone()))
            .collect::<Result<_, _>>()?;
        for (request, reply) in chunk.iter().zip(pending) {
            check(request, reply.await?)?;
        }
    }
    Ok(())
}

/// Creates persistent nodes (parents before children, as listed); a node that already
/// exists is fine. Returns how many were created.
pub async fn create_nodes(
    client: &Client,
    paths: Vec<String>,
    data: &[u8],
) -> Result<u64, BenchError> {
    create_nodes_windowed(client, paths, data, WINDOW).await
}

/// [`create_nodes`] with at most `window` creates in flight.
pub async fn create_nodes_windowed(
    client: &Client,
    paths: Vec<String>,
    data: &[u8],
    window: usize,
) -> Result<u64, BenchError> {
    let requests = paths
        .into_iter()
        .map(|path| create(path, data.to_vec(), CreateMode::Persistent))
        .collect();
    let mut created = 0;
    pipelined(client, requests, window, |request, reply| {
        if reply.is_ok() {
            created += 1;
            Ok(())
        } else if reply.error_code() == Some(ErrorCode::NodeExists) {
            Ok(())
        } else {
            Err(BenchError::server(describe("create", request), reply.err))
        }
    })
    .await?;
    Ok(created)
}

/// `path` and its ancestors below the root, shallowest first: `/a/b` gives `/a`, `/a/b`.
pub fn with_ancestors(path: &str) -> Vec<String> {
    path.match_indices('/')
        .skip(1)
        .map(|(i, _)| path[..i].to_string())
        .chain(std::iter::once(path.to_string()))
        .collect()
}

/// Deletes `root` and everything below it. Nodes that vanish meanwhile (ephemerals of closed
/// sessions) are fine. Returns how many nodes were deleted.
pub async fn delete_tree(client: &Client, root: &str) -> Result<u64, BenchError> {
    // Breadth-first listing, one level at a time; then delete the deepest level first.
    let mut levels: Vec<Vec<String>> = vec![vec![root.to_string()]];
    loop {
        let parents = levels.last().map(Vec::as_slice).unwrap_or_default();
        let requests = parents
            .iter()
            .map(|path| {
                Request::GetChildren(GetChildrenRequest {
                    path: path.clone(),
                    watch: false,
                })
            })
            .collect();
        let mut children = Vec::new();
        pipelined(client, requests, WINDOW, |request, reply| {
            if reply.error_code() == Some(ErrorCode::NoNode) {
                return Ok(());
            }
            let Some(parent) = request.path().filter(|_| reply.is_ok()) else {
                return Err(BenchError::server(
                    describe("getChildren", request),
                    reply.err,
                ));
            };
            match reply.response(OpCode::GetChildren) {
                Ok(Response::GetChildren(names)) => {
                    let base = parent.trim_end_matches('/');
                    children.extend(names.iter().map(|name| format!("{base}/{name}")));
                    Ok(())
                }
                _ => Err(BenchError::server(
                    describe("getChildren", request),
                    ErrorCode::MarshallingError.code(),
                )),
            }
        })
        .await?;
        if children.is_empty() {
            break;
        }
        levels.push(children);
    }

    let mut deleted = 0;
    for level in levels.into_iter().rev() {
        let requests = level
            .into_iter()
            .map(|path| Request::Delete(DeleteRequest { path, version: -1 }))
            .collect();
        pipelined(client, requests, WINDOW, |request, reply| {
            match reply.error_code() {
                Some(ErrorCode::Ok) => deleted += 1,
                Some(ErrorCode::NoNode) => {}
                _ => return Err(BenchError::server(describe("delete", request), reply.err)),
            }
            Ok(())
        })
        .await?;
    }
    Ok(deleted)
}

fn describe(what: &str, request: &Request) -> String {
    format!("{what} {}", request.path().unwrap_or("?"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ancestors_come_shallowest_first() {
        assert_eq!(with_ancestors("/a"), vec!["/a"]);
        assert_eq!(with_ancestors("/a/b/c"), vec!["/a", "/a/b", "/a/b/c"]);
    }
}
