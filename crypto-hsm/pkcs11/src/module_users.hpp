// One process, one PKCS#11 library state: C_Login, C_Logout and C_Finalize act on the whole
// application, not on the caller's session. The libp11 Hsm that signs mail and the TokenSessions
// of key commands live side by side in the data plane, so each counts itself here while it uses a
// module, and only the last one to go logs out and finalizes — or a key command would pull the
// token out from under the key that signs (and from under each other).
#pragma once

#include <map>
#include <mutex>
#include <string>

namespace seegw::pkcs11 {

class ModuleUsers {
 public:
  static void enter(const std::string& module_path) {
    std::lock_guard lock(mutex());
    ++counts()[module_path];
  }
  // True when the caller was the last user: it may log out and finalize.
  static bool leave(const std::string& module_path) {
    std::lock_guard lock(mutex());
    auto it = counts().find(module_path);
    if (it == counts().end() || --it->second > 0) return false;
    counts().erase(it);
    return true;
  }

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static std::map<std::string, int>& counts() {
    static std::map<std::string, int> c;
    return c;
  }
};

}  // namespace seegw::pkcs11
