# The gRPC transport driven through its ops table against ee-emulator (label client).
# Included from tests/transport/CMakeLists.txt.
if(TARGET ee-emulator)
  if(NOT TARGET ee_emu_spawn) # shared with the other transport tests
    add_library(ee_emu_spawn STATIC ${CMAKE_CURRENT_LIST_DIR}/emu_spawn.c)
    target_include_directories(ee_emu_spawn PUBLIC ${CMAKE_CURRENT_LIST_DIR})
    target_link_libraries(ee_emu_spawn PRIVATE ee_warnings)
  endif()

  add_executable(test_transport_grpc ${CMAKE_CURRENT_LIST_DIR}/test_grpc.c)
  target_include_directories(test_transport_grpc PRIVATE ${PROJECT_SOURCE_DIR}/src/transport)
  target_link_libraries(test_transport_grpc PRIVATE ee_emu_spawn eeclient_static ee_warnings)
  foreach(group rpcs errors faults refused deadline cancel limits describe concurrency destroy)
    add_test(NAME transport_grpc.${group}
             COMMAND test_transport_grpc $<TARGET_FILE:ee-emulator> ${group})
    set_tests_properties(transport_grpc.${group} PROPERTIES LABELS client TIMEOUT 180)
  endforeach()
endif()

# The same transport against a Python grpcio server (independent oracle of our wire).
if(TARGET test_transport_grpc)
  add_test(NAME transport_grpc.python_peer
    COMMAND ${EE_PYTHON} ${CMAKE_CURRENT_LIST_DIR}/peer_grpc.py $<TARGET_FILE:test_transport_grpc>
            ${EE_PYTHON_PROTO_DIR})
  set_tests_properties(transport_grpc.python_peer PROPERTIES LABELS client TIMEOUT 180
                       ENVIRONMENT PYTHONDONTWRITEBYTECODE=1)
endif()
