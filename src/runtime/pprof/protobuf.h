// A minimal protocol-buffers writer: just the wire format that profile.proto needs.
//
// Model: a message is a byte string built field by field. Every field starts with a key,
// (field number << 3) | wire type, written as a varint. Integers use wire type 0 (varint),
// and strings, nested messages and packed repeated integers use wire type 2 (a varint length,
// then the bytes). A nested message is built in its own `protobuf_writer` and appended with
// `message`, so no length has to be patched in afterwards.
//
// Field numbers are the caller's: this writer does not depend on profile.proto. Zero scalar fields
// are written like any other value; proto3 readers accept them, and leaving them out is the
// caller's choice.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace goro::rt::pprof {

class protobuf_writer {
 public:
  // Writes `value` as an int64 or uint64 field (wire type 0).
  void varint_field(int field, std::uint64_t value) {
    key(field, kWireVarint);
    varint(value);
  }
  void int64_field(int field, std::int64_t value) {
    varint_field(field, static_cast<std::uint64_t>(value));
  }
  void bool_field(int field, bool value) { varint_field(field, value ? 1 : 0); }

  // Writes a string or bytes field (wire type 2).
  void bytes_field(int field, std::string_view bytes) {
    key(field, kWireLengthDelimited);
    varint(bytes.size());
    bytes_.append(bytes);
  }

  // Writes a nested message built by another writer.
  void message_field(int field, const protobuf_writer& message) {
    bytes_field(field, message.bytes_);
  }

  // Writes a packed repeated int64 or uint64 field: one length-delimited run of varints.
  template <class Range>
  void packed_field(int field, const Range& values) {
    protobuf_writer packed;
    for (auto value : values) packed.varint(static_cast<std::uint64_t>(value));
    bytes_field(field, packed.bytes_);
  }

  const std::string& bytes() const { return bytes_; }

 private:
  static constexpr int kWireVarint = 0;
  static constexpr int kWireLengthDelimited = 2;

  void key(int field, int wire_type) {
    varint((static_cast<std::uint64_t>(field) << 3) | static_cast<std::uint64_t>(wire_type));
  }

  // Base 128, least significant group first, the high bit set on every byte but the last.
  void varint(std::uint64_t value) {
    while (value >= 0x80) {
      bytes_.push_back(static_cast<char>((value & 0x7f) | 0x80));
      value >>= 7;
    }
    bytes_.push_back(static_cast<char>(value));
  }

  std::string bytes_;
};

}  // namespace goro::rt::pprof
