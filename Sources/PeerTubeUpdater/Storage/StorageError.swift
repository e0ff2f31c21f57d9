/// What went wrong with a database file, and which one. Each message is one line that names the file.
public enum StorageError: Error, CustomStringConvertible, Equatable {
    case fileNotFound(role: String, path: String)
    case unreadable(role: String, path: String)
    case notADatabase(role: String, path: String, detail: String)
    case emptyFile(role: String, path: String)
    case missingTable(role: String, path: String, table: String)
    case refusedPath(path: String, reason: String)

    public var description: String {
        switch self {
        case let .fileNotFound(role, path):
            return "\(role) not found: \(path)"
        case let .unreadable(role, path):
            return "\(role) is not readable: \(path)"
        case let .notADatabase(role, path, detail):
            return "\(role) \(path) is not a usable SQLite database (\(detail))"
        case let .emptyFile(role, path):
            return "\(role) \(path) is an empty file (0 bytes), not a database"
        case let .missingTable(role, path, table):
            return "\(role) \(path) has no table '\(table)'"
        case let .refusedPath(path, reason):
            return "refusing to use \(path): \(reason)"
        }
    }
}
