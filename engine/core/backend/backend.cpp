#include "core/backend/backend.h"

#include <sstream>

namespace enclave {

size_t Tensor::row_bytes() const {
    const auto bytes = enclave::row_bytes(type, ne[0]);
    if (!bytes) throw InvalidArgument("tensor row of " + std::to_string(ne[0]) + " elements is not whole blocks of " +
                                      std::string(tensor_type_name(type)));
    return *bytes;
}

std::string Tensor::shape_string() const {
    std::ostringstream os;
    os << '[';
    bool first = true;
    for (int i = 3; i >= 0; --i) {
        if (ne[i] == 1 && i > 1) continue;
        os << (first ? "" : ", ") << ne[i];
        first = false;
    }
    os << "] " << tensor_type_name(type);
    return os.str();
}

Tensor Tensor::first_rows(int64_t n) const {
    Tensor t = *this;
    t.ne[1] = n;
    t.ne[2] = 1;
    t.ne[3] = 1;
    return t;
}

}  // namespace enclave
