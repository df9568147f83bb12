//! Server configuration (zoo.cfg or YAML). Being written.
