using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.CommandLine;
using QemuTestKit.Machines.Runtime;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Tests.Support;
using QemuTestKit.Machines.Validation;

namespace QemuTestKit.Machines.Tests.Recording;

/// <summary>No recording that can never replay is made silently: QTK1028 at validation, a refusal at a recorded start.</summary>
public sealed class ReplayLimitsTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("qtk-limits-").FullName;
    private QemuCatalog _catalog = null!;

    public async ValueTask InitializeAsync() =>
        _catalog = await new CatalogCache(Path.Combine(_root, "cache")).GetAsync("qemu-system-x86_64", TestContext.Current.CancellationToken);

    [Theory]
    [InlineData("7.2.22", true)]
    [InlineData("9.1.3", true)]
    [InlineData("9.2.0", false)]
    [InlineData("10.0.2", false)]
    public void Virtio_net_is_a_limit_before_QEMU_9_2(string version, bool limited)
    {
        var spec = GuestSpecs.Hello("net") with { Nics = [new NicSpec()] };

        var limits = ReplayLimits.Of(spec, _catalog with { QemuVersion = version });

        limits.Should().HaveCount(limited ? 1 : 0);
        if (limited)
        {
            limits[0].Should().BeEquivalentTo(new { Field = "Nics[0].Model", Device = "virtio-net-pci" });
            limits[0].Fix.Should().Contain("e1000");
        }
    }

    [Theory]
    [InlineData("riscv64", "7.2.22", true)]
    [InlineData("riscv64", "10.1.0", true)]
    [InlineData("riscv32", "9.2.1", true)]
    [InlineData("riscv64", "10.2.0", false)]
    [InlineData("riscv64", "11.0.0", false)]
    [InlineData("riscv64", "unknown", false)]
    [InlineData("aarch64", "7.2.22", false)]
    public void A_riscv_machine_is_a_limit_before_QEMU_10_2(string target, string version, bool limited)
    {
        var spec = GuestSpecs.Hello("rv") with { MachineType = "virt" };

        var limits = ReplayLimits.Of(spec, _catalog with { Target = target, QemuVersion = version });

        limits.Should().HaveCount(limited ? 1 : 0);
        if (limited)
        {
            limits[0].Should().BeEquivalentTo(new { Field = "MachineType", Device = "virt" });
            limits[0].Why.Should().Contain("10.2").And.Contain("stimecmp");
            limits[0].Fix.Should().Contain("QEMUTESTKIT_RECORD=false");
        }
    }

    [Fact]
    public void E1000_and_unknown_types_are_not_limits()
    {
        var spec = GuestSpecs.Hello("net") with { Nics = [new NicSpec("e1000"), new NicSpec("virtio-net-pcie")] };

        ReplayLimits.Of(spec, _catalog with { QemuVersion = "7.2.22" }).Should().BeEmpty();
    }

    [Fact]
    public async Task A_recorded_start_of_such_a_machine_is_refused_before_QEMU_starts()
    {
        var spec = GuestSpecs.Hello("net") with { Nics = [new NicSpec()] };

        var act = () => QemuMachine.StartAsync(spec, new MachineStartOptions
        {
            Catalog = _catalog with { QemuVersion = "7.2.22" }, Mode = RunMode.Record, RunRoot = Path.Combine(_root, "run"),
        }, TestContext.Current.CancellationToken);

        (await act.Should().ThrowAsync<MachineStartException>())
            .WithMessage("QTK1028: machine 'net': Nics[0].Model 'virtio-net-pci' cannot be replayed by qemu-system-x86_64 7.2.22*use Model=\"e1000\"*QEMUTESTKIT_RECORD=false*");
        (Directory.Exists(Path.Combine(_root, "run")) ? Directory.GetDirectories(Path.Combine(_root, "run")) : [])
            .Should().BeEmpty("QEMU was not started: no run directory was made");
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_root, recursive: true);
        return ValueTask.CompletedTask;
    }
}
