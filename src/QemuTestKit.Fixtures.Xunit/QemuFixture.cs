using QemuTestKit.Fixtures.Testing;

namespace QemuTestKit.Fixtures.Xunit;

/// <summary>
/// Machines for xunit.v3 tests: use it as a class, collection or assembly fixture and call
/// <see cref="StartAsync(string, CancellationToken)"/> in a test. Every fixture shares the test host's
/// <see cref="MachineHost"/>, so the limit on concurrent machines is run-wide.
/// </summary>
public sealed class QemuFixture
{
    // One public constructor: xunit builds fixtures itself. Tests that need another host use MachineHost directly.
    public QemuFixture()
    {
        Host = MachineHost.Shared;
    }

    public MachineHost Host { get; }

    /// <summary>A fresh machine <paramref name="name"/> (a <c>QemuMachine</c> item of the test project) for the current test.</summary>
    public Task<GuestMachine> StartAsync(string name, CancellationToken cancellationToken = default) =>
        StartAsync(name, null, cancellationToken);

    public Task<GuestMachine> StartAsync(string name, MachineOptions? options, CancellationToken cancellationToken = default) =>
        Host.StartAsync(XunitTestScope.Current(), name, options, cancellationToken);
}
