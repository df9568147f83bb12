pub mod api_mount;
pub mod cluster;
pub mod config_cmd;
pub mod module_metrics;
pub mod naming_cmd;
pub mod shell;
