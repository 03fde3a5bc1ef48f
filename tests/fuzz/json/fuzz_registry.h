/* The type registry both JSON fuzz targets use: the default one plus every test message
 * (eetest.*) and their JSON names, built on first use. Aborts when that fails (a broken harness,
 * not a find). */
#ifndef EE_FUZZ_REGISTRY_H
#define EE_FUZZ_REGISTRY_H

#include <stdlib.h>

#include "ee/json.h"
#include "ee/status.h"
#include "eei_test_message_descriptors.h"
#include "eei_test_routes.h"

static const ee_json_registry *fuzz_registry(void) {
  static ee_json_registry *reg;
  if (reg == NULL) {
    ee_status st;
    ee_status_clear(&st);
    if (ee_json_add_names(&eei_test_routes, &st) != EE_OK) abort(); /* custom json_name */
    reg = ee_json_registry_new();
    if (reg == NULL) abort();
    for (size_t i = 0; i < eei_test_message_descriptors_count; i++) {
      if (ee_json_registry_add(reg, eei_test_message_descriptors[i], &st) != EE_OK) abort();
    }
  }
  return reg;
}

#endif
