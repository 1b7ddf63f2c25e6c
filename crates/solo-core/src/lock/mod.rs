//! The lock protocol (R4 to R7): leases across clusters, earliest lock wins, renewal, fencing.
