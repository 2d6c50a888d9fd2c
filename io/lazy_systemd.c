/*
 * The sd-bus calls of runtime/oci/systemd_mgr.c, loaded on first use
 * (io/lazylib.h): only cgroup_manager "systemd" talks to systemd over
 * D-Bus, and libsystemd brings libgcrypt, liblz4 and liblzma along, which
 * every other daemon would map for nothing. The prototypes are sd-bus.h's
 * (included, so the compiler checks them); a missing library fails each
 * call with -ENOSYS (NULL for the unref calls, which then leak nothing: the
 * object cannot exist).
 */
#include <errno.h>
#include <stdint.h>
#include <systemd/sd-bus.h>

#include "io/lazylib.h"

#define SD(ret, name, params, args, fail)                                                          \
	CRID_LAZY_FN(crid_lazy_systemd, ret, name, params, args, fail)

SD(int, sd_bus_new, (sd_bus * *ret), (ret), -ENOSYS)
SD(int, sd_bus_set_address, (sd_bus * bus, const char *address), (bus, address), -ENOSYS)
SD(int, sd_bus_start, (sd_bus * bus), (bus), -ENOSYS)
SD(int, sd_bus_open_system, (sd_bus * *ret), (ret), -ENOSYS)
SD(sd_bus *, sd_bus_unref, (sd_bus * bus), (bus), NULL)
SD(sd_bus *, sd_bus_close_unref, (sd_bus * bus), (bus), NULL)
SD(int, sd_bus_is_open, (sd_bus * bus), (bus), -ENOSYS)
SD(int, sd_bus_get_fd, (sd_bus * bus), (bus), -ENOSYS)
SD(int, sd_bus_get_events, (sd_bus * bus), (bus), -ENOSYS)
SD(int, sd_bus_get_timeout, (sd_bus * bus, uint64_t *timeout_usec), (bus, timeout_usec), -ENOSYS)
SD(int, sd_bus_process, (sd_bus * bus, sd_bus_message **r), (bus, r), -ENOSYS)
SD(int, sd_bus_set_method_call_timeout, (sd_bus * bus, uint64_t usec), (bus, usec), -ENOSYS)
SD(int, sd_bus_get_property_string,
   (sd_bus * bus, const char *destination, const char *path, const char *interface,
    const char *member, sd_bus_error *ret_error, char **ret),
   (bus, destination, path, interface, member, ret_error, ret), -ENOSYS)
SD(int, sd_bus_match_signal,
   (sd_bus * bus, sd_bus_slot **ret, const char *sender, const char *path, const char *interface,
    const char *member, sd_bus_message_handler_t callback, void *userdata),
   (bus, ret, sender, path, interface, member, callback, userdata), -ENOSYS)
SD(int, sd_bus_match_signal_async,
   (sd_bus * bus, sd_bus_slot **ret, const char *sender, const char *path, const char *interface,
    const char *member, sd_bus_message_handler_t callback,
    sd_bus_message_handler_t install_callback, void *userdata),
   (bus, ret, sender, path, interface, member, callback, install_callback, userdata), -ENOSYS)
SD(int, sd_bus_message_new_method_call,
   (sd_bus * bus, sd_bus_message **m, const char *destination, const char *path,
    const char *interface, const char *member),
   (bus, m, destination, path, interface, member), -ENOSYS)
SD(int, sd_bus_call,
   (sd_bus * bus, sd_bus_message *m, uint64_t usec, sd_bus_error *ret_error,
    sd_bus_message **reply),
   (bus, m, usec, ret_error, reply), -ENOSYS)
SD(int, sd_bus_call_async,
   (sd_bus * bus, sd_bus_slot **slot, sd_bus_message *m, sd_bus_message_handler_t callback,
    void *userdata, uint64_t usec),
   (bus, slot, m, callback, userdata, usec), -ENOSYS)
SD(sd_bus_message *, sd_bus_message_unref, (sd_bus_message * m), (m), NULL)
SD(const sd_bus_error *, sd_bus_message_get_error, (sd_bus_message * m), (m), NULL)
SD(int, sd_bus_message_read_basic, (sd_bus_message * m, char type, void *p), (m, type, p), -ENOSYS)
SD(int, sd_bus_message_append_basic, (sd_bus_message * m, char type, const void *p), (m, type, p),
   -ENOSYS)
SD(int, sd_bus_message_open_container, (sd_bus_message * m, char type, const char *contents),
   (m, type, contents), -ENOSYS)
SD(int, sd_bus_message_close_container, (sd_bus_message * m), (m), -ENOSYS)
SD(sd_bus_slot *, sd_bus_slot_unref, (sd_bus_slot * slot), (slot), NULL)
CRID_LAZY_VOID(crid_lazy_systemd, sd_bus_error_free, (sd_bus_error * e), (e))
