using QemuTestKit.Introspection.Catalog;
using QemuTestKit.Machines.Specs;
using QemuTestKit.Machines.Tests.Support;
using QemuTestKit.Machines.Validation;

namespace QemuTestKit.Machines.Tests.Validation;

/// <summary>The real qemu-system-aarch64 and qemu-system-riscv64 (Debian's qemu-system-arm and qemu-system-misc), asked once through a private cache.</summary>
public sealed class OtherTargetsFixture : IAsyncLifetime
{
    private readonly string _cache = Path.Combine(Path.GetTempPath(), $"qtk-targets-{Guid.NewGuid():N}");

    public QemuCatalog Aarch64 { get; private set; } = null!;

    public QemuCatalog Riscv64 { get; private set; } = null!;

    public async ValueTask InitializeAsync()
    {
        var cache = new CatalogCache(_cache);
        Aarch64 = await cache.GetAsync(TestQemu.For("aarch64"), TestContext.Current.CancellationToken);
        Riscv64 = await cache.GetAsync(TestQemu.For("riscv64"), TestContext.Current.CancellationToken);
    }

    public ValueTask DisposeAsync()
    {
        Directory.Delete(_cache, recursive: true);
        return ValueTask.CompletedTask;
    }
}

/// <summary>The architecture comes from the binary, and CPU models are checked on targets without query-cpu-definitions.</summary>
public sealed class ArchitectureTests(OtherTargetsFixture fixture) : IClassFixture<OtherTargetsFixture>
{
    private static MachineSpec Board(string qemu, string? cpu = null, string? architecture = null) =>
        new() { Name = "board", Qemu = qemu, MachineType = "virt", Cpu = cpu, Architecture = architecture };

    [Fact]
    public void An_x86_cpu_model_on_riscv64_virt_is_an_unknown_cpu_model()
    {
        var errors = MachineSpecValidator.Validate(Board("qemu-system-riscv64", "Skylake-Client"), fixture.Riscv64).WithoutReplayLimits();

        errors.Select(e => (e.Code, e.Field)).Should().Equal([(MachineSpecErrorCodes.UnknownCpuModel, "Cpu")], string.Join("\n", errors));
        errors[0].Message.Should().Contain("'Skylake-Client' is not a CPU model of qemu-system-riscv64 7.");
    }

    [Theory]
    [InlineData("rv64")]
    [InlineData("sifive-u54")]
    [InlineData("rv64,v=true")]
    public void A_riscv64_cpu_model_on_riscv64_virt_is_accepted(string cpu)
    {
        MachineSpecValidator.Validate(Board("qemu-system-riscv64", cpu), fixture.Riscv64).WithoutReplayLimits().Should().BeEmpty();
    }

    [Fact]
    public void A_riscv64_machine_on_QEMU_before_10_2_carries_the_replay_warning_QTK1028()
    {
        var errors = MachineSpecValidator.Validate(Board("qemu-system-riscv64", "rv64"), fixture.Riscv64);

        fixture.Riscv64.IsBefore(10, 2).Should().BeTrue("this test reads Debian 12's QEMU 7.2; on a newer QEMU, drop it");
        var warning = errors.Should().ContainSingle().Subject;
        warning.Code.Should().Be(MachineSpecErrorCodes.DoesNotReplay);
        warning.Severity.Should().Be(MachineSpecSeverity.Warning);
        warning.Field.Should().Be("MachineType");
        warning.Message.Should().Contain("cannot be replayed by qemu-system-riscv64").And.Contain("QEMUTESTKIT_RECORD=false");
    }

    [Fact]
    public void A_near_miss_on_riscv64_suggests_the_model()
    {
        var error = MachineSpecValidator.Validate(Board("qemu-system-riscv64", "sifive-u45"), fixture.Riscv64).WithoutReplayLimits().Should().ContainSingle().Subject;

        error.Code.Should().Be(MachineSpecErrorCodes.UnknownCpuModel);
        error.Suggestions.Should().Contain("sifive-u54");
    }

    [Fact]
    public void An_architecture_the_binary_does_not_emulate_is_QTK1029_naming_both()
    {
        var errors = MachineSpecValidator.Validate(Board("qemu-system-aarch64", "cortex-a57", architecture: "riscv64"), fixture.Aarch64);

        var error = errors.Should().ContainSingle(e => e.Code == MachineSpecErrorCodes.ArchitectureMismatch, string.Join("\n", errors)).Subject;
        errors.Should().HaveCount(1);
        error.Severity.Should().Be(MachineSpecSeverity.Error);
        error.Field.Should().Be("Architecture");
        error.Found.Should().Be("riscv64");
        error.Allowed.Should().Be("aarch64");
        error.Message.Should().Be("machine 'board': Architecture 'riscv64' is not the target of qemu-system-aarch64 " + fixture.Aarch64.QemuVersion +
            ", which emulates aarch64: leave Architecture out (the binary decides it) or set Qemu to a riscv64 emulator such as qemu-system-riscv64");
    }

    [Fact]
    public void The_binarys_own_architecture_declared_is_accepted_and_kept()
    {
        var spec = Board("qemu-system-aarch64", "cortex-a57", architecture: "aarch64");

        MachineSpecValidator.Validate(spec, fixture.Aarch64).Should().BeEmpty();
        spec.WithTargetOf(fixture.Aarch64).Should().BeSameAs(spec);
    }

    [Fact]
    public void A_spec_naming_only_the_aarch64_binary_says_aarch64_once_resolved()
    {
        var spec = Board("qemu-system-aarch64", "cortex-a57");

        spec.Architecture.Should().BeNull("nothing was declared");
        MachineSpecValidator.Validate(spec, fixture.Aarch64).Should().BeEmpty();
        var resolved = spec.WithTargetOf(fixture.Aarch64);

        resolved.Architecture.Should().Be("aarch64");
        resolved.QemuBinary.Should().Be("qemu-system-aarch64");
        MachineSpecJson.Deserialize(MachineSpecJson.Serialize(resolved), "board.json").Architecture.Should().Be("aarch64");
    }

    [Fact]
    public void A_spec_naming_neither_binary_nor_architecture_runs_x86_64()
    {
        var spec = new MachineSpec { Name = "plain", MachineType = "q35" };

        spec.QemuBinary.Should().Be("qemu-system-x86_64");
        spec.Architecture.Should().BeNull();
        MachineSpecJson.Serialize(spec).Should().NotContain("architecture", "an undeclared architecture is not written as if it were");
    }
}
