/// The schema, as numbered steps. A step is never edited once released: changes are new steps.
///
/// Types are the subset SQLite and PostgreSQL read alike: `TEXT`, `BIGINT` (SQLite: integer affinity),
/// `DOUBLE PRECISION` (SQLite: real affinity). Ids are random text made by the store, times are
/// milliseconds since 1970.
enum Migrations {
    static let steps: [(version: Int, statements: [String])] = [
        (
            1,
            [
                """
                CREATE TABLE users (
                    id TEXT PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    password_hash TEXT,
                    is_admin BIGINT NOT NULL DEFAULT 0,
                    created_at BIGINT NOT NULL
                )
                """,
                """
                CREATE TABLE sessions (
                    token_hash TEXT PRIMARY KEY,
                    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    csrf_token TEXT NOT NULL,
                    created_at BIGINT NOT NULL,
                    expires_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX sessions_user ON sessions (user_id)",
                """
                CREATE TABLE conversations (
                    id TEXT PRIMARY KEY,
                    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
                    title TEXT NOT NULL,
                    model TEXT,
                    system_prompt TEXT NOT NULL DEFAULT '',
                    temperature DOUBLE PRECISION,
                    max_tokens BIGINT,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL
                )
                """,
                "CREATE INDEX conversations_user_updated ON conversations (user_id, updated_at DESC)",
                """
                CREATE TABLE messages (
                    id TEXT PRIMARY KEY,
                    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
                    seq BIGINT NOT NULL,
                    role TEXT NOT NULL,
                    content TEXT NOT NULL,
                    state TEXT NOT NULL,
                    error TEXT,
                    model TEXT,
                    prompt_tokens BIGINT,
                    completion_tokens BIGINT,
                    ttft_ms DOUBLE PRECISION,
                    duration_ms DOUBLE PRECISION,
                    created_at BIGINT NOT NULL,
                    updated_at BIGINT NOT NULL,
                    UNIQUE (conversation_id, seq)
                )
                """,
            ]
        ),
        (
            2,
            [
                // How many of the conversation's oldest messages an answer's request left out to fit the
                // model's context (null: none).
                "ALTER TABLE messages ADD COLUMN omitted_messages BIGINT"
            ]
        ),
    ]

    /// The newest schema version this build knows.
    static var latestVersion: Int { steps.last?.version ?? 0 }
}
