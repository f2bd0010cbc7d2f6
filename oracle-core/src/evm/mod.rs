//! EVM submitter (stub)
