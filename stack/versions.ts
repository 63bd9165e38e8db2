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

// CRR_TEMPORAL=server: the Temporal server itself, its SQL schema tool (both from the same
// module and tag, no replace directive) and the Web UI server the pinned CLI embeds.
export const TEMPORAL_SERVER_MODULE = 'go.temporal.io/server';
export const TEMPORAL_SERVER_VERSION = 'v1.29.1';
export const TEMPORAL_UI_SERVER_MODULE = 'github.com/temporalio/ui-server/v2';
export const TEMPORAL_UI_SERVER_VERSION = 'v2.42.1';
