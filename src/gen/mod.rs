//! `onecard gen`: a synthetic city (being written).
