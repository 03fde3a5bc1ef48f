# ee-gateway end to end (label embed): python3-grpcio -> ee-gateway -> ee-emulator, the
# gateway's upstream over REST and over gRPC.
if(NOT TARGET ee-gateway OR NOT TARGET ee-emulator)
  return()
endif()
foreach(t rest grpc)
  add_test(NAME embed.gateway_${t}
           COMMAND ${EE_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_gateway.py ${t})
  set_tests_properties(embed.gateway_${t} PROPERTIES LABELS embed TIMEOUT 120
    ENVIRONMENT "EE_GATEWAY=$<TARGET_FILE:ee-gateway>;EE_EMULATOR=$<TARGET_FILE:ee-emulator>;EE_PYTHON_PROTO_DIR=${EE_PYTHON_PROTO_DIR};PYTHONPATH=${CMAKE_CURRENT_SOURCE_DIR}:${EE_TEST_DIR}/emulator;PYTHONDONTWRITEBYTECODE=1")
endforeach()
