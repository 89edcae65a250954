namespace QemuTestKit.Introspection.Processes;

/// <summary>Finds util-linux's <c>setpriv</c>, which sets PR_SET_PDEATHSIG before exec'ing QEMU.</summary>
internal static class DeathSignal
{
    private static readonly Lazy<string?> s_setpriv = new(() => ExecutableSearch.Find("setpriv"));

    public static string? SetprivPath => OperatingSystem.IsLinux() ? s_setpriv.Value : null;
}
