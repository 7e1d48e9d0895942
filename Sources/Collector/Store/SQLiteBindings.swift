import GRDB
import GRDBSQLite

/// Values bound to a prepared statement through SQLite's C API, for `Database.run(_:_:)`.
struct SQLiteBindings {
    fileprivate let statement: OpaquePointer
    /// The first binding that failed.
    fileprivate var failure: Int32 = SQLITE_OK

    /// SQLite copies the bytes (`SQLITE_TRANSIENT`), so they need only live for the call.
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

    private mutating func check(_ code: Int32) {
        if failure == SQLITE_OK && code != SQLITE_OK { failure = code }
    }

    /// An empty array is an empty blob, not NULL.
    mutating func blob(_ index: Int32, _ bytes: [UInt8]) {
        bytes.withUnsafeBytes { blob(index, $0) }
    }

    /// No bytes are an empty blob, not NULL.
    mutating func blob(_ index: Int32, _ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, !bytes.isEmpty else { return check(sqlite3_bind_zeroblob(statement, index, 0)) }
        check(sqlite3_bind_blob(statement, index, base, Int32(bytes.count), Self.transient))
    }

    /// Text given as UTF-8 bytes; no bytes are the empty text, not NULL.
    mutating func text(_ index: Int32, _ utf8: UnsafeRawBufferPointer) {
        guard let base = utf8.baseAddress, !utf8.isEmpty else { return check(sqlite3_bind_text(statement, index, "", 0, Self.transient)) }
        check(sqlite3_bind_text(statement, index, base.assumingMemoryBound(to: CChar.self), Int32(utf8.count), Self.transient))
    }

    /// `nil` is NULL.
    mutating func text(_ index: Int32, _ text: String?) {
        guard var text else { return check(sqlite3_bind_null(statement, index)) }
        // An empty string is bound from a literal: its buffer may have no address, and a
        // null pointer would bind NULL.
        guard !text.isEmpty else { return check(sqlite3_bind_text(statement, index, "", 0, Self.transient)) }
        let code = text.withUTF8 { utf8 in
            utf8.withMemoryRebound(to: CChar.self) { sqlite3_bind_text(statement, index, $0.baseAddress, Int32($0.count), Self.transient) }
        }
        check(code)
    }

    mutating func integer(_ index: Int32, _ value: Int64) {
        check(sqlite3_bind_int64(statement, index, value))
    }
}

extension Database {
    /// Runs a statement of no result once, its values bound by `bind` through SQLite's C
    /// API. GRDB's `StatementArguments` box each value in an existential, which for the
    /// chain rows' eleven columns cost more than SQLite's insert.
    func run(_ statement: Statement, _ bind: (inout SQLiteBindings) -> Void) throws {
        let handle = statement.sqliteStatement
        sqlite3_reset(handle)
        var bindings = SQLiteBindings(statement: handle)
        bind(&bindings)
        guard bindings.failure == SQLITE_OK else {
            throw DatabaseError(resultCode: ResultCode(rawValue: bindings.failure), message: lastErrorMessage, sql: statement.sql)
        }
        let code = sqlite3_step(handle)
        defer { sqlite3_reset(handle) }
        guard code == SQLITE_DONE else {
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: lastErrorMessage, sql: statement.sql)
        }
    }
}
