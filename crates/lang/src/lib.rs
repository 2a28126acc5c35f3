//! Flow definitions: parsing, validation and the pure evaluation pieces the engine builds on.
