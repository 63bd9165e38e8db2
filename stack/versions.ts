/**
 * Pinned versions of the servers the project talks to. Each is built from a package
 * registry (Go module proxy, Maven Central) into a cache outside the repository.
 */
export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal';
// Later tags carry a replace directive and cannot be installed with `go install`.
export const TEMPORAL_CLI_VERSION = 'v1.5.1';

export const MINIO_MODULE = 'github.com/minio/minio';
// MinIO's repository is in maintenance mode: this is the pseudo-version `@latest` resolves to.
export const MINIO_VERSION = 'v0.0.0-20260212201848-7aac2a2c5b7c';

// Must match stack/kafka/pom.xml.
export const KAFKA_VERSION = '3.9.1';
