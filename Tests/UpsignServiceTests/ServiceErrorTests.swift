import Testing
import Upsign
import UpsignService

struct ServiceErrorTests {
    @Test func aConfigurationErrorExits78AndAnOutputFailure1() {
        #expect(ServiceError.configuration(ConfigurationError(problems: [])).exitStatus == 78)
        #expect(ServiceError.outputFailed.exitStatus == 1)
    }
}
