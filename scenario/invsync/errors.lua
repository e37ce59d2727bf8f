--- The error names of docs/PROTOCOL.md section 3.1, as plain tables.
---
--- An error is a plain table (safe to keep in `storage` and to compare by `name`):
--- `{ name = "FrameChecksumMismatch", message = "...", id = 7, index = 2, offset = 15 }`.
--- `id`, `index` and `offset` are present only when known. Functions of the codec return
--- `nil, err` for bad input and never raise on it; they raise only for programming errors
--- (a wrong argument type from the caller).

---@class InvsyncError
---@field name string one of the names in errors.NAMES
---@field message string what was expected and where
---@field id number|nil message id, when known
---@field index number|nil chunk number, when known
---@field offset number|nil byte offset (1-based) in the frame or payload, when known

local errors = {}

--- Every protocol error name, in the order of PROTOCOL.md 3.1.
errors.NAMES = {
  "NotAFrame", "UnsupportedVersion", "FrameTooLong", "ForbiddenCharacter", "InvalidUtf8",
  "MalformedHeader", "IndexOutOfRange", "UnknownMethod", "MethodNotAccepted",
  "FrameChecksumMismatch", "MessageTooLarge", "TooManyChunks", "ConflictingFrame",
  "TooManyMessages", "MisalignedChunk", "WireLengthMismatch", "MessageChecksumMismatch",
  "BadBase64", "DecompressFailed", "PayloadLengthMismatch", "Expired", "Incomplete",
  "RawUnrepresentable", "NoAcceptableMethod", "FrameTooSmall",
}

local known = {}
for i = 1, #errors.NAMES do known[errors.NAMES[i]] = true end

--- Builds an error table. Raises if `name` is not a protocol error name (a programming error).
---@param name string
---@param message string
---@param id number|nil
---@param index number|nil
---@param offset number|nil
---@return InvsyncError
function errors.new(name, message, id, index, offset)
  if not known[name] then
    error("invsync.errors.new: unknown error name " .. tostring(name), 2)
  end
  return { name = name, message = message, id = id, index = index, offset = offset }
end

--- True if `name` is one of the protocol's error names.
---@param name string
---@return boolean
function errors.is_name(name)
  return known[name] == true
end

--- One line for logs and replies: `Name: message`.
---@param err InvsyncError
---@return string
function errors.format(err)
  return err.name .. ": " .. err.message
end

return errors
