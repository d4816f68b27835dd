import Foundation
import Testing

@testable import SkiffChatStore

struct DatabaseURLTests {
    @Test func parsesSQLiteAndPostgresURLs() throws {
        #expect(try DatabaseURL(parsing: "sqlite:///var/lib/skiff/chat.db") == .sqlite(path: "/var/lib/skiff/chat.db"))
        let url = try DatabaseURL(parsing: "postgres://chat:p%40ss@db.internal:6543/skiff?sslmode=require")
        #expect(
            url
                == .postgres(
                    .init(host: "db.internal", port: 6543, username: "chat", password: "p@ss", database: "skiff", tls: .require)))
        #expect(url.description == "postgres://chat:***@db.internal:6543/skiff")
        let defaults = try DatabaseURL(parsing: "postgresql://chat@db")
        #expect(defaults == .postgres(.init(host: "db", port: 5432, username: "chat", password: nil, database: nil, tls: .prefer)))
    }

    @Test(arguments: [
        "sqlite://relative/chat.db", "sqlite://", "mysql://u@h/db", "postgres:///db", "postgres://db.internal/skiff",
        "postgres://u@h/db?sslmode=sometimes", "chat.db",
    ])
    func rejectsWhatItCannotOpen(text: String) {
        #expect(throws: ChatStoreError.self) { try DatabaseURL(parsing: text) }
    }

    @Test func errorsNeverShowThePassword() throws {
        let error = try #require(throws: ChatStoreError.self) { try DatabaseURL(parsing: "postgres://u:hunter2@/db") }
        #expect(!error.message.contains("hunter2"))
    }

    @Test func defaultDatabaseIsInTheUsersDataDirectory() {
        #expect(DatabaseURL.defaultSQLite(environment: ["HOME": "/home/ada"]) == .sqlite(path: "/home/ada/.local/share/skiff/chat.db"))
        #expect(
            DatabaseURL.defaultSQLite(environment: ["HOME": "/home/ada", "XDG_DATA_HOME": "/data"])
                == .sqlite(path: "/data/skiff/chat.db"))
    }

    @Test func placeholdersBecomeSQLiteNumberedParameters() {
        #expect(SQLiteBackend.sqliteSQL("SELECT $1, $12 WHERE a = $1") == "SELECT ?1, ?12 WHERE a = ?1")
        #expect(SQLiteBackend.sqliteSQL("SELECT x$ || $a") == "SELECT x$ || $a")
    }

    @Test func idsAreDistinctAndURLSafe() {
        let ids = (0..<1000).map { _ in ChatStore.newID() }
        #expect(Set(ids).count == 1000)
        #expect(ids.allSatisfy { $0.count == 26 && $0.allSatisfy { $0.isLowercase || $0.isNumber } })
    }
}
