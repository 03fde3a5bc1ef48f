# The REST transport through its ops table (label client): ExportImage and the
# Operations RPCs against ee-emulator, faults, deadlines, cancels, the response size
# limit, 16 threads x 500 attempts, connection reuse; answers the emulator never gives
# come from rest_canned.py (a Python http.server).
if(NOT TARGET ee-emulator)
  return()
endif()
add_executable(test_rest test_rest.c)
target_include_directories(test_rest PRIVATE ${PROJECT_SOURCE_DIR}/src/transport)
target_link_libraries(test_rest PRIVATE ee_test_support eeclient_static ee_warnings)
foreach(group rpcs describe invalid unavailable refused deadline cancel size_limit concurrency
        reuse canned)
  add_test(NAME transport.rest.${group}
    COMMAND test_rest ${group} $<TARGET_FILE:ee-emulator> ${EE_PYTHON}
            ${CMAKE_CURRENT_SOURCE_DIR}/rest_canned.py)
  set_tests_properties(transport.rest.${group} PROPERTIES LABELS client TIMEOUT 180)
endforeach()
