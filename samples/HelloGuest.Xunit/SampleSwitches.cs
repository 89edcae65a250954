using System.Globalization;

namespace HelloGuest.Xunit;

/// <summary>Environment switches that turn the sample's deliberate failures on; CI sets none of them.</summary>
internal static class SampleSwitches
{
    /// <summary>HELLOGUEST_FLAKY=1: let the race of the flaky test happen.</summary>
    public static bool Flaky => Environment.GetEnvironmentVariable("HELLOGUEST_FLAKY") == "1";

    /// <summary>HELLOGUEST_FAIL_ON_RUN=n: fail on run n of qemutestkit hunt (QEMUTESTKIT_HUNT_RUN; 1 outside a hunt).</summary>
    public static bool FailThisRun =>
        int.TryParse(Environment.GetEnvironmentVariable("HELLOGUEST_FAIL_ON_RUN"), NumberStyles.None, CultureInfo.InvariantCulture, out var failOn)
        && failOn == (int.TryParse(Environment.GetEnvironmentVariable("QEMUTESTKIT_HUNT_RUN"), NumberStyles.None, CultureInfo.InvariantCulture, out var run) ? run : 1);
}
